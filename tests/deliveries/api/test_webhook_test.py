"""POST /api/v1/webhooks/{id}/test/ and /api/v1/webhooks/test/: a sample sent at
once, the receiver's answer returned, nothing recorded.

Sends go to a real deliveries.receiver.Receiver on 127.0.0.1 (so those tests
allow private destinations through the `allow_private` fixture).
"""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from deliveries.models import Delivery, DeliveryAttempt, Event
from deliveries.pipeline.operator import SAMPLE_DATA
from deliveries.receiver import always
from hooks.models import Role, Webhook
from tests.api_client import (
    BAD_EVENT_TYPES,
    assert_field_error,
    client_for,
    nothing_written,
    rotate,
    url_of,
)
from tests.conftest import (
    TEST_URL,
    WEBHOOKS,
)
from tests.factories import (
    NEW_SECRET,
    TEST_SECRET,
    MembershipFactory,
    WebhookFactory,
)

pytestmark = [
    pytest.mark.django_db,
]


def nothing_recorded() -> bool:
    return not (
        Event.objects.exists() or Delivery.objects.exists() or DeliveryAttempt.objects.exists()
    )


def test_testing_a_webhook_sends_a_signed_sample_and_records_nothing(
    admin, tenants, allow_private, receivers
):
    # given
    receiver = receivers(secret=TEST_SECRET)
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=receiver.url + "/hook")

    # when
    response = admin.post(f"{url_of(webhook)}test/", {}, format="json")

    # then the answer is the receiver's
    assert response.status_code == 200
    result = response.json()
    assert result["status_code"] == 200
    assert result["ok"] is True
    assert isinstance(result["duration_ms"], int)
    assert result["duration_ms"] >= 0
    assert result["response_body"] == '{"status": 200}'
    assert result["error"] == ""
    # and the receiver got one signed request that verifies with the secret
    [received] = receiver.received
    assert received.path == "/hook"
    assert received.signature == "valid"
    envelope = StandardWebhook(TEST_SECRET).verify(received.body, received.headers)
    assert envelope["type"] == "TEST"
    assert envelope["data"] == SAMPLE_DATA
    assert envelope["account"] == str(tenants["east_acct"].id)
    # and nothing was recorded
    assert nothing_recorded()


def test_a_test_delivery_carries_the_given_event_and_custom_headers(
    admin, tenants, allow_private, receivers
):
    receiver = receivers(secret=TEST_SECRET)
    webhook = WebhookFactory(
        account=tenants["east_acct"], payload_url=receiver.url, headers={"X-Tenant": "east"}
    )

    response = admin.post(
        f"{url_of(webhook)}test/", {"type": "VM.CREATE", "data": {"name": "vm-9"}}, format="json"
    )

    assert response.json()["ok"] is True
    [received] = receiver.received
    assert received.json["type"] == "VM.CREATE"
    assert received.json["data"] == {"name": "vm-9"}
    assert received.headers["x-tenant"] == "east"
    assert received.signature == "valid"
    assert nothing_recorded()


def test_a_receiver_answering_500_makes_the_test_not_ok(admin, tenants, allow_private, receivers):
    receiver = receivers(secret=TEST_SECRET, responder=always(500))
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=receiver.url)

    response = admin.post(f"{url_of(webhook)}test/", {}, format="json")

    assert response.status_code == 200
    result = response.json()
    assert (result["status_code"], result["ok"]) == (500, False)
    assert result["response_body"] == '{"status": 500}'
    assert result["error"] == "HTTP 500"
    assert len(receiver.received) == 1
    assert nothing_recorded()


def test_after_rotation_a_receiver_with_either_secret_accepts_a_test(
    admin, tenants, allow_private, receivers
):
    # given receivers holding the old and the new secret
    old_holder = receivers(secret=TEST_SECRET)
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=old_holder.url)
    new = rotate(admin, webhook).json()["secret"]
    new_holder = receivers(secret=new)

    # when a test is sent to each
    assert admin.post(f"{url_of(webhook)}test/", {}, format="json").json()["ok"] is True
    admin.patch(url_of(webhook), {"payload_url": new_holder.url}, format="json")
    assert admin.post(f"{url_of(webhook)}test/", {}, format="json").json()["ok"] is True

    # then both verify it
    assert old_holder.received[0].signature == "valid"
    assert new_holder.received[0].signature == "valid"


def test_a_rotated_cloudstack_webhook_test_verifies_with_the_new_secret_only(
    admin, tenants, allow_private, receivers
):
    webhook = WebhookFactory(
        account=tenants["east_acct"], payload_url="http://127.0.0.1:9/", header_style="cloudstack"
    )
    new = rotate(admin, webhook).json()["secret"]
    with_new, with_old = receivers(secret=new), receivers(secret=TEST_SECRET)

    for receiver in (with_new, with_old):
        Webhook.objects.filter(pk=webhook.pk).update(payload_url=receiver.url)
        admin.post(f"{url_of(webhook)}test/", {}, format="json")

    assert with_new.received[0].signature == "valid"
    assert with_old.received[0].signature == "invalid"
    assert [k for k in with_new.received[0].headers if k == "x-cs-signature"] == ["x-cs-signature"]


# --- a bare URL -------------------------------------------------------------------------------


def test_testing_a_bare_url_sends_an_unsigned_sample(admin, allow_private, receivers):
    receiver = receivers()

    response = admin.post(f"{WEBHOOKS}test/", {"payload_url": receiver.url + "/try"}, format="json")

    assert response.status_code == 200
    result = response.json()
    assert (result["status_code"], result["ok"], result["error"]) == (200, True, "")
    assert result["response_body"] == '{"status": 200}'
    assert isinstance(result["duration_ms"], int)
    [received] = receiver.received
    assert received.path == "/try"
    assert received.signature == "unsigned"
    assert received.json["data"] == SAMPLE_DATA
    assert nothing_recorded()


def test_testing_a_url_with_a_secret_and_event_signs_it(admin, tenants, allow_private, receivers):
    # A domain admin, who has an account: the sample names it.
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.DOMAIN_ADMIN)
    receiver = receivers(secret=NEW_SECRET)
    body = {
        "payload_url": receiver.url,
        "secret": NEW_SECRET,
        "type": "VM.DESTROY",
        "data": {"name": "vm-3"},
    }

    response = client_for(membership.user).post(f"{WEBHOOKS}test/", body, format="json")

    assert response.json()["ok"] is True
    [received] = receiver.received
    envelope = StandardWebhook(NEW_SECRET).verify(received.body, received.headers)
    assert (envelope["type"], envelope["data"]) == ("VM.DESTROY", {"name": "vm-3"})
    assert envelope["account"] == str(tenants["east_acct"].id)
    assert nothing_recorded()


def test_testing_a_receiver_answering_500_by_url_is_not_ok(admin, allow_private, receivers):
    receiver = receivers(responder=always(500))

    result = admin.post(f"{WEBHOOKS}test/", {"payload_url": receiver.url}, format="json").json()

    assert (result["status_code"], result["ok"], result["error"]) == (500, False, "HTTP 500")


def test_testing_a_private_url_is_refused_when_private_ips_are_not_allowed(
    admin, settings, receivers
):
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = False
    receiver = receivers()

    response = admin.post(f"{WEBHOOKS}test/", {"payload_url": receiver.url}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["payload_url"]
    assert receiver.received == []


def test_testing_another_accounts_webhook_is_not_found(tenants, allow_private, receivers):
    receiver = receivers()
    theirs = WebhookFactory(account=tenants["west_acct"], payload_url=receiver.url)
    user = MembershipFactory(account=tenants["east_acct"], role=Role.USER).user

    response = client_for(user).post(f"{url_of(theirs)}test/", {}, format="json")

    assert response.status_code == 404
    assert receiver.received == []


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", BAD_EVENT_TYPES)
@pytest.mark.parametrize("target", ["test-url", "webhook-test"])
def test_a_test_event_type_with_forbidden_characters_is_400(admin, hook, target, event_type):
    if target == "test-url":
        url, body = TEST_URL, {"payload_url": "https://example.com/hook", "type": event_type}
    else:
        url, body = f"{WEBHOOKS}{hook.id}/test/", {"type": event_type}

    with nothing_written():
        response = admin.post(url, body, format="json")

    assert_field_error(response, "type", "")


def test_testing_a_bare_url_in_a_payload_format_sends_that_body(admin, allow_private, receivers):
    receiver = receivers()

    response = admin.post(
        f"{WEBHOOKS}test/",
        {"payload_url": receiver.url, "payload_format": "mycloudit", "type": "VM.ON"},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = receiver.received[0].json
    assert list(body) == [
        "Id", "UserId", "CustomerId", "Type", "ResourceId", "Timestamp", "ActionData",
    ]  # fmt: skip
    assert body["Type"] == "VM.ON" and body["ActionData"]["test"] is True


def test_a_saved_webhooks_test_uses_its_payload_format(admin, tenants, allow_private, receivers):
    receiver = receivers(secret=TEST_SECRET)
    webhook = WebhookFactory(
        account=tenants["east_acct"], payload_url=receiver.url, payload_format="tencent"
    )

    admin.post(f"{url_of(webhook)}test/", {"data": {"alarmStatus": 0}}, format="json")

    got = receiver.received[0]
    assert list(got.json) == ["sessionId", "alarmStatus"]
    assert got.signature == "valid"


def test_overrides_send_elsewhere_with_another_secret_for_this_send_only(
    admin, tenants, allow_private, receivers
):
    # given a webhook pointing at one receiver, and another receiver holding another secret
    usual = receivers(secret=TEST_SECRET)
    other = receivers(secret=NEW_SECRET)
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=usual.url)

    # when it is tested with CloudStack's executeWebhookDelivery overrides
    response = admin.post(
        f"{url_of(webhook)}test/",
        {"payload_url": other.url + "/try", "secret": NEW_SECRET, "ssl_verification": False},
        format="json",
    )

    # then the other receiver got it, signed with the given secret
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True
    [received] = other.received
    assert received.path == "/try"
    assert received.signature == "valid"
    assert usual.received == []
    # and the webhook is as it was, nothing recorded
    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.payload_url, stored.secret, stored.ssl_verification) == (
        usual.url,
        TEST_SECRET,
        True,
    )
    assert nothing_recorded()


def test_an_empty_secret_override_sends_unsigned(admin, tenants, allow_private, receivers):
    receiver = receivers()
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=receiver.url)

    response = admin.post(f"{url_of(webhook)}test/", {"secret": ""}, format="json")

    assert response.json()["ok"] is True
    [received] = receiver.received
    assert "webhook-signature" not in received.headers


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payload_url": "http://127.0.0.1:9/hook"}, "payload_url"),  # private: refused
        ({"payload_url": "ftp://example.com/"}, "payload_url"),
        ({"secret": "not-a-secret"}, "secret"),
        ({"ssl_verification": "perhaps"}, "ssl_verification"),
    ],
)
def test_overrides_are_vetted_as_any_send(admin, tenants, no_sending, body, field):
    webhook = WebhookFactory(account=tenants["east_acct"])

    response = admin.post(f"{url_of(webhook)}test/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_a_test_delivery_is_judged_by_the_webhooks_acknowledgement_rule(
    admin, tenants, allow_private, receivers
):
    import json

    def tencent(got):
        session = got.headers["x-webhook-session-id"]
        code = 0 if got.json["data"].get("good") else 1
        return 200, json.dumps({"sessionId": session, "retCode": code}).encode()

    receiver = receivers(responder=tencent)
    webhook = WebhookFactory(
        account=tenants["east_acct"],
        payload_url=receiver.url,
        ack_field="retCode",
        ack_value=0,
        ack_session_field="sessionId",
    )

    bad = admin.post(f"{url_of(webhook)}test/", {"data": {}}, format="json").json()
    assert (bad["status_code"], bad["ok"]) == (200, False)
    assert bad["error"] == "no acknowledgement: retCode was 1, not 0"
    good = admin.post(f"{url_of(webhook)}test/", {"data": {"good": True}}, format="json").json()
    assert (good["ok"], good["error"]) == (True, "")
    assert nothing_recorded()
