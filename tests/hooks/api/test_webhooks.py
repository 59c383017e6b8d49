"""The REST API's operations beyond create and list: updating and deleting
webhooks, rotating secrets, test sends, event batches, deleting, redelivering
and recovering deliveries, tenants and tokens, pagination.

Sends go to a real deliveries.receiver.Receiver on 127.0.0.1 (so those tests
allow private destinations through the `settings` fixture). Publishing
really runs: its on-commit enqueue never fires inside the test's transaction;
where a test needs what would be queued, it captures the on-commit callbacks
with enqueue patched.
"""

import base64
import datetime as dt
import io
import json
import time
import uuid

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from knox.models import AuthToken
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from deliveries.api import RecoverThrottle
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from deliveries.publishing import event_publish
from deliveries.receiver import always
from deliveries.services import (
    SAMPLE_DATA,
    deliveries_send,
    delivery_headers,
    delivery_request,
    event_body,
)
from deliveries.signing import cloudstack_signature
from hooks.models import Account, Domain, HeaderStyle, Membership, Role, Scope, Webhook
from hooks.services import check_secret, generate_secret
from tests.api_client import client_for
from tests.factories import (
    TEST_SECRET,
    AccountFactory,
    DeliveryAttemptFactory,
    DeliveryFactory,
    EventFactory,
    MembershipFactory,
    UserFactory,
    WebhookFactory,
)

pytestmark = [
    pytest.mark.django_db,
]

WEBHOOKS = "/api/v1/webhooks/"
EVENTS = "/api/v1/events/"
DELIVERIES = "/api/v1/deliveries/"
DOMAINS = "/api/v1/domains/"
ACCOUNTS = "/api/v1/accounts/"
USERS = "/api/v1/users/"
TOKENS = "/api/v1/tokens/"
NEW_SECRET = "whsec_" + base64.b64encode(b"n" * 32).decode()
PUBLIC_URL = "https://example.com/hook"


def client_with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture(autouse=True)
def clean_cache():
    """The recover throttle counts calls in Django's cache, per user id: start
    and end every test with it empty so counts never leak between tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def admin(db):
    """A root admin (a superuser with no membership)."""
    return client_for(UserFactory(username="root", is_superuser=True, is_staff=True))


@pytest.fixture
def east_hook(tenants):
    return WebhookFactory(name="east-local", account=tenants["east_acct"], payload_url=PUBLIC_URL)


@pytest.fixture
def allow_private(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = True


def url_of(webhook) -> str:
    return f"{WEBHOOKS}{webhook.id}/"


def built_headers(webhook, *, event=None, timestamp=None) -> tuple[bytes, list[tuple[str, str]]]:
    """The body and headers the next delivery of `event` to `webhook` is sent with."""
    webhook = Webhook.objects.get(pk=webhook.pk)  # as a worker would read it: fresh
    event = event or EventFactory.build(account=webhook.account, occurred_at=timezone.now())
    body = event_body(event)
    timestamp = int(time.time()) if timestamp is None else timestamp
    return body, delivery_headers(webhook=webhook, event=event, body=body, timestamp=timestamp)


def verifies(secret: str, body: bytes, headers) -> bool:
    """Whether a Standard Webhooks receiver holding `secret` accepts the request."""
    try:
        StandardWebhook(secret).verify(body, dict(headers))
    except WebhookVerificationError:
        return False
    return True


def with_signature(headers, signature: str) -> dict[str, str]:
    return dict(headers) | {"webhook-signature": signature}


def nothing_recorded() -> bool:
    return not (
        Event.objects.exists() or Delivery.objects.exists() or DeliveryAttempt.objects.exists()
    )


# --- webhooks: update -----------------------------------------------------------------------------


def test_put_replaces_a_webhooks_fields(admin, tenants, east_hook):
    # given
    body = {
        "name": "renamed",
        "description": "now with a description",
        "account": str(tenants["east_acct"].id),
        "payload_url": "https://example.org/new",
        "event_types": ["NETWORK.*"],
        "enabled": False,
        "headers": {"X-Team": "blue"},
        "timeout": 3.5,
        "max_attempts": 4,
    }

    # when
    response = admin.put(url_of(east_hook), body, format="json")

    # then
    assert response.status_code == 200, response.json()
    shown = response.json()
    for name, value in body.items():
        assert shown[name] == value, name
    assert "secret" not in shown
    east_hook.refresh_from_db()
    assert (east_hook.name, east_hook.payload_url) == ("renamed", "https://example.org/new")
    assert east_hook.event_types == ["NETWORK.*"]
    assert east_hook.enabled is False
    assert east_hook.headers == {"X-Team": "blue"}
    assert (east_hook.timeout, east_hook.max_attempts) == (3.5, 4)
    assert east_hook.secret == TEST_SECRET  # not given: kept


def test_put_without_a_required_field_is_refused(admin, east_hook):
    response = admin.put(url_of(east_hook), {"name": "only a name"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["payload_url"]
    east_hook.refresh_from_db()
    assert east_hook.name == "east-local"


def test_patch_changes_only_the_given_fields(admin, east_hook):
    response = admin.patch(url_of(east_hook), {"description": "patched"}, format="json")

    assert response.status_code == 200
    assert response.json()["description"] == "patched"
    east_hook.refresh_from_db()
    assert east_hook.description == "patched"
    assert east_hook.name == "east-local"
    assert east_hook.payload_url == PUBLIC_URL
    assert east_hook.secret == TEST_SECRET


def test_patched_event_types_apply_to_the_next_event(admin, tenants):
    # given a webhook for VM events only
    webhook = WebhookFactory(
        account=tenants["east_acct"], payload_url=PUBLIC_URL, event_types=["VM.*"]
    )
    before = event_publish(type="NETWORK.CREATE", data={}, account=tenants["east_acct"])
    assert before.delivery_count == 0

    # when its filter is changed to network events
    response = admin.patch(url_of(webhook), {"event_types": ["NETWORK.*"]}, format="json")

    # then the very next network event goes to it, and VM events no longer do
    assert response.status_code == 200
    assert response.json()["event_types"] == ["NETWORK.*"]
    network = event_publish(type="NETWORK.CREATE", data={}, account=tenants["east_acct"])
    vm = event_publish(type="VM.CREATE", data={}, account=tenants["east_acct"])
    assert network.delivery_count == 1
    assert Delivery.objects.get(event=network.event).webhook == webhook
    assert vm.delivery_count == 0


def test_a_patched_url_and_headers_apply_to_the_next_request(admin, tenants, east_hook):
    # given a delivery not sent yet
    delivery = DeliveryFactory(webhook=east_hook, event=EventFactory(account=tenants["east_acct"]))

    # when
    response = admin.patch(
        url_of(east_hook),
        {"payload_url": "https://example.net/moved", "headers": {"X-Env": "staging"}},
        format="json",
    )

    # then its next attempt goes to the new URL with the new header
    assert response.status_code == 200
    delivery = Delivery.objects.select_related("event", "webhook").get(pk=delivery.pk)
    request = delivery_request(delivery, timestamp=int(time.time()))
    assert request.url == "https://example.net/moved"
    assert ("X-Env", "staging") in request.headers


def test_deleting_a_webhook_removes_it_and_its_deliveries(admin, tenants, east_hook):
    # given a webhook with a delivery tried once, and another webhook's delivery
    event = EventFactory(account=tenants["east_acct"])
    delivery = DeliveryFactory(webhook=east_hook, event=event, attempts=1)
    DeliveryAttemptFactory(delivery=delivery, number=1)
    other = DeliveryFactory(event=event, webhook=WebhookFactory(account=tenants["east_acct"]))

    # when
    response = admin.delete(url_of(east_hook))

    # then
    assert response.status_code == 204
    assert not Webhook.objects.filter(pk=east_hook.pk).exists()
    assert not Delivery.objects.filter(pk=delivery.pk).exists()
    assert not DeliveryAttempt.objects.exists()
    assert Delivery.objects.filter(pk=other.pk).exists()
    assert Event.objects.filter(pk=event.pk).exists()  # the event is other deliveries' too
    assert admin.get(url_of(east_hook)).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_deleting_a_webhook_while_its_delivery_is_sent_spares_the_rest_of_the_batch(
    tenants, allow_private, receivers
):
    # given two webhooks, each with a delivery of one event, sent in one batch;
    # while the request to the first is in flight, its webhook is deleted
    admin = client_for(UserFactory(username="root", is_superuser=True, is_staff=True))
    event = EventFactory(account=tenants["east_acct"])
    doomed_receiver = receivers()
    doomed = WebhookFactory(account=tenants["east_acct"], payload_url=doomed_receiver.url)
    kept = WebhookFactory(account=tenants["east_acct"], payload_url=receivers().url)
    deliveries = [
        DeliveryFactory(webhook=w, event=event, next_attempt_at=timezone.now())
        for w in (doomed, kept)
    ]
    answers = []

    def delete_webhook(received):
        try:
            answers.append(admin.delete(url_of(doomed)).status_code)
        finally:
            connections.close_all()  # this thread's connection

    doomed_receiver.on_request = delete_webhook

    # when the worker sends the batch and records the outcomes
    sent = deliveries_send([d.id for d in deliveries])

    # then the delete was answered (refused, or done), and the other webhook's
    # delivery is recorded as the success it was, not left for the sweeper to resend
    assert sent == 2
    assert answers in ([204], [409])
    kept_delivery = Delivery.objects.get(pk=deliveries[1].pk)
    assert kept_delivery.status == DeliveryStatus.SUCCEEDED
    assert DeliveryAttempt.objects.filter(delivery=kept_delivery).count() == 1


# --- webhooks: what is never shown ----------------------------------------------------------------


def test_a_secret_is_write_only(admin, east_hook):
    # when the secret is changed
    response = admin.patch(url_of(east_hook), {"secret": NEW_SECRET}, format="json")

    # then it is stored but not shown, in the answer or afterwards
    assert response.status_code == 200
    patched = response.json()
    assert "secret" not in patched
    assert patched["has_secret"] is True
    east_hook.refresh_from_db()
    assert east_hook.secret == NEW_SECRET
    shown = admin.get(url_of(east_hook)).json()
    listed = admin.get(WEBHOOKS).json()["results"]
    assert "secret" not in shown
    assert all("secret" not in item for item in listed)
    for secret in (NEW_SECRET, TEST_SECRET):
        assert secret not in json.dumps([patched, shown, listed])


def test_an_emptied_secret_shows_as_none(admin, east_hook):
    response = admin.patch(url_of(east_hook), {"secret": ""}, format="json")

    assert response.status_code == 200
    assert response.json()["has_secret"] is False
    assert admin.get(url_of(east_hook)).json()["has_secret"] is False
    _, headers = built_headers(east_hook)
    assert "webhook-signature" not in dict(headers)


def test_the_listener_password_is_never_returned_but_is_sent(admin, east_hook):
    # when
    response = admin.patch(
        url_of(east_hook),
        {"auth_username": "listener", "auth_password": "s3cret-pw"},
        format="json",
    )

    # then it is not shown anywhere
    assert response.status_code == 200
    patched = response.json()
    shown = admin.get(url_of(east_hook)).json()
    listed = admin.get(WEBHOOKS).json()["results"]
    assert patched["auth_username"] == shown["auth_username"] == "listener"
    assert "auth_password" not in patched
    assert "auth_password" not in shown
    assert all("auth_password" not in item for item in listed)
    assert "s3cret-pw" not in json.dumps([patched, shown, listed])
    # and requests carry it as basic auth
    _, headers = built_headers(east_hook)
    expected = "Basic " + base64.b64encode(b"listener:s3cret-pw").decode()
    assert dict(headers)["Authorization"] == expected


def test_custom_headers_are_saved_and_sent(admin, tenants):
    # when a webhook is created with headers of its own
    body = {
        "name": "with-headers",
        "account": str(tenants["east_acct"].id),
        "payload_url": PUBLIC_URL,
        "headers": {"X-Tenant": "east", "X-Api-Key": "k-123"},
    }
    response = admin.post(WEBHOOKS, body, format="json")

    # then they are stored, shown, and sent beside the platform's headers
    assert response.status_code == 201
    assert response.json()["headers"] == {"X-Tenant": "east", "X-Api-Key": "k-123"}
    webhook = Webhook.objects.get(pk=response.json()["id"])
    assert webhook.headers == {"X-Tenant": "east", "X-Api-Key": "k-123"}
    assert admin.get(url_of(webhook)).json()["headers"] == webhook.headers
    _, headers = built_headers(webhook)
    assert ("X-Tenant", "east") in headers
    assert ("X-Api-Key", "k-123") in headers
    assert "webhook-signature" in dict(headers)


def test_a_header_the_platform_sets_cannot_be_overridden(admin, east_hook):
    response = admin.patch(
        url_of(east_hook), {"headers": {"webhook-signature": "v1,forged"}}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["headers"]
    east_hook.refresh_from_db()
    assert east_hook.headers == {}


# --- webhooks: rotate-secret ----------------------------------------------------------------------


def rotate(client, webhook, **body):
    return client.post(f"{url_of(webhook)}rotate-secret/", body, format="json")


def test_rotating_a_secret_shows_the_new_one_once(admin, east_hook):
    # when
    before = timezone.now()
    response = rotate(admin, east_hook)

    # then
    assert response.status_code == 200
    result = response.json()
    new = result["secret"]
    assert new.startswith("whsec_")
    check_secret(new)
    assert new != TEST_SECRET
    expires = parse_datetime(result["previous_secret_expires_at"])
    overlap = dt.timedelta(seconds=django_settings.WEBHOOK_SECRET_ROTATION_OVERLAP)
    assert before + overlap <= expires <= timezone.now() + overlap
    east_hook.refresh_from_db()
    assert (east_hook.secret, east_hook.previous_secret) == (new, TEST_SECRET)
    # and never again
    shown = admin.get(url_of(east_hook)).json()
    listed = admin.get(WEBHOOKS).json()
    assert "secret" not in shown
    assert new not in json.dumps([shown, listed])


def test_during_the_overlap_both_secrets_sign(admin, east_hook):
    # given
    new = rotate(admin, east_hook).json()["secret"]

    # when the next request is built
    body, headers = built_headers(east_hook)

    # then it carries two v1 signatures: one for each secret
    signatures = dict(headers)["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    assert verifies(TEST_SECRET, body, headers)
    assert verifies(new, body, headers)
    assert not verifies(generate_secret(), body, headers)
    by_new = [s for s in signatures if verifies(new, body, with_signature(headers, s))]
    by_old = [s for s in signatures if verifies(TEST_SECRET, body, with_signature(headers, s))]
    assert len(by_new) == len(by_old) == 1
    assert by_new != by_old


def test_after_the_overlap_only_the_new_secret_signs(admin, east_hook):
    # given a rotation with a one-minute overlap
    result = rotate(admin, east_hook, overlap_seconds=60).json()
    new = result["secret"]
    expires = parse_datetime(result["previous_secret_expires_at"])

    # then just before it ends both sign
    with time_machine.travel(expires - dt.timedelta(seconds=2), tick=False):
        body, headers = built_headers(east_hook)
        assert len(dict(headers)["webhook-signature"].split(" ")) == 2
        assert verifies(TEST_SECRET, body, headers)

    # and once it has ended only the new one does
    with time_machine.travel(expires + dt.timedelta(seconds=1), tick=False):
        body, headers = built_headers(east_hook)
        signatures = dict(headers)["webhook-signature"].split(" ")
        assert len(signatures) == 1
        assert verifies(new, body, headers)
        assert not verifies(TEST_SECRET, body, headers)


def test_a_rotation_without_overlap_drops_the_old_secret_at_once(admin, east_hook):
    result = rotate(admin, east_hook, overlap_seconds=0).json()

    assert result["previous_secret_expires_at"] is None
    body, headers = built_headers(east_hook)
    assert len(dict(headers)["webhook-signature"].split(" ")) == 1
    assert verifies(result["secret"], body, headers)
    assert not verifies(TEST_SECRET, body, headers)
    east_hook.refresh_from_db()
    assert east_hook.previous_secret == ""


def test_a_secret_given_to_rotate_is_used(admin, east_hook):
    response = rotate(admin, east_hook, secret=NEW_SECRET)

    assert response.status_code == 200
    assert response.json()["secret"] == NEW_SECRET
    east_hook.refresh_from_db()
    assert east_hook.secret == NEW_SECRET
    body, headers = built_headers(east_hook)
    assert verifies(NEW_SECRET, body, headers)


def test_a_malformed_secret_given_to_rotate_is_refused(admin, east_hook):
    response = rotate(admin, east_hook, secret="whsec_short")

    assert response.status_code == 400
    assert list(response.json()) == ["secret"]
    east_hook.refresh_from_db()
    assert (east_hook.secret, east_hook.previous_secret) == (TEST_SECRET, "")


def test_a_cloudstack_webhook_sends_one_signature_with_the_new_secret(admin, east_hook):
    # given a CloudStack-style webhook, rotated
    Webhook.objects.filter(pk=east_hook.pk).update(header_style=HeaderStyle.CLOUDSTACK)
    new = rotate(admin, east_hook).json()["secret"]

    # when the next request is built
    body, headers = built_headers(east_hook)

    # then there is one X-CS-Signature, made with the new secret
    signatures = [value for name, value in headers if name == "X-CS-Signature"]
    assert signatures == [cloudstack_signature(secret=new, body=body)]
    assert "webhook-signature" not in dict(headers)


@pytest.mark.parametrize("secret", ["", NEW_SECRET], ids=["emptied", "replaced"])
def test_setting_the_secret_ends_a_rotations_overlap(admin, east_hook, secret):
    # given a rotation whose old secret still signs
    rotated = rotate(admin, east_hook).json()["secret"]
    assert rotated != secret

    # when the secret is set outright (replaced, or emptied: unsigned)
    response = admin.patch(url_of(east_hook), {"secret": secret}, format="json")

    # then only what was set signs: no rotated-out secret goes on signing
    assert response.status_code == 200
    assert response.json()["has_secret"] is bool(secret)
    body, headers = built_headers(east_hook)
    if secret:
        assert len(dict(headers)["webhook-signature"].split(" ")) == 1
        assert verifies(secret, body, headers)
    else:
        assert "webhook-signature" not in dict(headers)
    assert not verifies(TEST_SECRET, body, headers)


# --- webhooks: test deliveries --------------------------------------------------------------------


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


# --- events ---------------------------------------------------------------------------------------


def event_item(tenants, type="VM.CREATE", **kwargs):
    return {"type": type, "account": str(tenants["east_acct"].id), "data": {"n": 1}} | kwargs


def test_a_batch_of_events_is_published_together(admin, tenants):
    # given a webhook for VM events
    webhook = WebhookFactory(
        account=tenants["east_acct"], payload_url=PUBLIC_URL, event_types=["VM.*"]
    )
    items = [
        event_item(tenants, "VM.CREATE"),
        event_item(tenants, "VM.DESTROY"),
        event_item(tenants, "NETWORK.CREATE"),
    ]

    # when
    response = admin.post(f"{EVENTS}batch/", {"events": items}, format="json")

    # then
    assert response.status_code == 202
    results = response.json()
    assert len(results) == 3
    assert [r["deliveries"] for r in results] == [1, 1, 0]
    assert all(r["created"] is True for r in results)
    stored = {str(e.id): e.type for e in Event.objects.all()}
    assert stored == {
        results[0]["id"]: "VM.CREATE",
        results[1]["id"]: "VM.DESTROY",
        results[2]["id"]: "NETWORK.CREATE",
    }
    assert Delivery.objects.filter(webhook=webhook).count() == 2


def test_a_batch_with_a_conflict_stores_none_of_its_events(admin, tenants, east_hook):
    # given an event already published
    existing = str(uuid.uuid4())
    first = admin.post(EVENTS, event_item(tenants, id=existing), format="json")
    assert first.status_code == 202
    new_ids = [str(uuid.uuid4()), str(uuid.uuid4())]

    # when a batch brings two new events and that id with other data
    items = [
        event_item(tenants, id=new_ids[0]),
        event_item(tenants, id=new_ids[1]),
        event_item(tenants, id=existing, data={"n": 2}),
    ]
    response = admin.post(f"{EVENTS}batch/", {"events": items}, format="json")

    # then the whole batch is refused, naming the item
    assert response.status_code == 409
    assert "events[2]" in response.json()["detail"]
    assert [str(e.id) for e in Event.objects.all()] == [existing]
    assert Event.objects.get().data == {"n": 1}
    assert Delivery.objects.count() == 1


def test_an_event_shows_its_deliveries(admin, tenants, east_hook):
    # given an event for two webhooks
    other = WebhookFactory(account=tenants["east_acct"], payload_url=PUBLIC_URL)
    event_id = admin.post(EVENTS, event_item(tenants), format="json").json()["id"]

    # when
    response = admin.get(f"{EVENTS}{event_id}/")

    # then
    assert response.status_code == 200
    shown = response.json()
    assert shown["id"] == event_id
    assert shown["envelope"]["data"] == {"n": 1}
    assert {d["webhook"] for d in shown["deliveries"]} == {str(east_hook.id), str(other.id)}
    assert all(d["status"] == "pending" for d in shown["deliveries"])
    assert all(d["event"] == event_id for d in shown["deliveries"])
    assert all(d["event_type"] == "VM.CREATE" for d in shown["deliveries"])


def test_events_filter_by_type_account_and_creation_time(admin, tenants):
    # given events of two types, two accounts, on two days
    long_ago = timezone.now() - dt.timedelta(days=3)
    old = EventFactory(type="VM.CREATE", account=tenants["east_acct"])
    Event.objects.filter(pk=old.pk).update(created_at=long_ago)
    east_vm = EventFactory(type="VM.CREATE", account=tenants["east_acct"])
    east_net = EventFactory(type="NETWORK.CREATE", account=tenants["east_acct"])
    west_vm = EventFactory(type="VM.CREATE", account=tenants["west_acct"])

    def ids(query):
        response = admin.get(EVENTS + query)
        assert response.status_code == 200, response.json()
        return {item["id"] for item in response.json()["results"]}

    # then
    east = tenants["east_acct"].id
    after = (long_ago + dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert ids("?type=VM.CREATE") == {str(old.id), str(east_vm.id), str(west_vm.id)}
    assert ids(f"?account={east}") == {str(old.id), str(east_vm.id), str(east_net.id)}
    assert ids(f"?created_after={after}") == {str(east_vm.id), str(east_net.id), str(west_vm.id)}
    assert ids(f"?type=VM.CREATE&account={east}&created_after={after}") == {str(east_vm.id)}
    assert ids(f"?created_before={after}") == {str(old.id)}


def test_events_can_be_ordered(admin, tenants):
    start = timezone.now() - dt.timedelta(hours=1)
    for minutes, type in enumerate(("B.TWO", "C.THREE", "A.ONE")):
        event = EventFactory(type=type, account=tenants["east_acct"])
        created = start + dt.timedelta(minutes=minutes)
        Event.objects.filter(pk=event.pk).update(created_at=created)

    def types(query):
        return [item["type"] for item in admin.get(EVENTS + query).json()["results"]]

    assert types("?ordering=type") == ["A.ONE", "B.TWO", "C.THREE"]
    assert types("?ordering=-type") == ["C.THREE", "B.TWO", "A.ONE"]
    assert types("?ordering=created_at") == ["B.TWO", "C.THREE", "A.ONE"]
    assert types("") == ["A.ONE", "C.THREE", "B.TWO"]  # newest first by default
    refused = admin.get(EVENTS + "?ordering=data")
    assert refused.status_code == 400
    assert list(refused.json()) == ["ordering"]


# --- deliveries: delete ---------------------------------------------------------------------------


def test_deleting_a_delivery(admin, tenants):
    delivery = DeliveryFactory(status=DeliveryStatus.FAILED)
    DeliveryAttemptFactory(delivery=delivery, number=1)

    response = admin.delete(f"{DELIVERIES}{delivery.id}/")

    assert response.status_code == 204
    assert not Delivery.objects.filter(pk=delivery.pk).exists()
    assert not DeliveryAttempt.objects.exists()


def test_a_delivery_being_sent_cannot_be_deleted(admin):
    delivery = DeliveryFactory(status=DeliveryStatus.SENDING, attempts=1)

    response = admin.delete(f"{DELIVERIES}{delivery.id}/")

    assert response.status_code == 409
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENDING, 1)


@pytest.fixture
def two_hooks_deliveries(tenants):
    """One webhook's deliveries in every status (two failed), and another's failed one."""
    mine = WebhookFactory(account=tenants["east_acct"])
    theirs = WebhookFactory(account=tenants["east_acct"])
    made = {
        status: DeliveryFactory(webhook=mine, status=status)
        for status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.SUCCEEDED)
    }
    made["failed"] = [DeliveryFactory(webhook=mine, status=DeliveryStatus.FAILED) for _ in "ab"]
    made["theirs"] = DeliveryFactory(webhook=theirs, status=DeliveryStatus.FAILED)
    made["webhook"] = mine
    return made


def remaining() -> set:
    return set(Delivery.objects.values_list("pk", flat=True))


def test_bulk_delete_removes_exactly_the_matching_deliveries(admin, two_hooks_deliveries):
    made = two_hooks_deliveries
    before = remaining()

    response = admin.delete(f"{DELIVERIES}bulk/?webhook={made['webhook'].id}&status=failed")

    assert response.status_code == 200
    assert response.json() == {"deleted": 2}
    assert remaining() == before - {d.pk for d in made["failed"]}


def test_bulk_delete_spares_deliveries_being_sent(admin, two_hooks_deliveries):
    made = two_hooks_deliveries

    response = admin.delete(f"{DELIVERIES}bulk/?webhook={made['webhook'].id}")

    assert response.json() == {"deleted": 4}
    assert remaining() == {made[DeliveryStatus.SENDING].pk, made["theirs"].pk}
    assert admin.delete(f"{DELIVERIES}bulk/?status=sending").json() == {"deleted": 0}
    assert Delivery.objects.filter(pk=made[DeliveryStatus.SENDING].pk).exists()


@pytest.mark.parametrize("query", ["", "?status=", "?ordering=-created_at", "?search=VM"])
def test_bulk_delete_without_a_filter_is_refused(admin, two_hooks_deliveries, query):
    before = remaining()

    response = admin.delete(f"{DELIVERIES}bulk/{query}")

    assert response.status_code == 400
    assert remaining() == before


def test_bulk_delete_only_reaches_what_the_caller_sees(tenants):
    mine = DeliveryFactory(
        webhook=WebhookFactory(account=tenants["east_acct"]), status=DeliveryStatus.FAILED
    )
    theirs = DeliveryFactory(
        webhook=WebhookFactory(account=tenants["west_acct"]), status=DeliveryStatus.FAILED
    )
    user = MembershipFactory(account=tenants["east_acct"], role=Role.USER).user

    response = client_for(user).delete(f"{DELIVERIES}bulk/?status=failed")

    assert response.json() == {"deleted": 1}
    assert remaining() == {theirs.pk}
    assert not Delivery.objects.filter(pk=mine.pk).exists()


# --- deliveries: redeliver ------------------------------------------------------------------------


def answers(*statuses):
    """A responder giving these statuses in turn (then the last one again)."""
    left = list(statuses)

    def responder(received):
        status = left.pop(0) if len(left) > 1 else left[0]
        return status, json.dumps({"status": status}).encode()

    return responder


def test_redelivering_a_failed_delivery_sends_it_again_and_records_it(
    admin, tenants, allow_private, receivers
):
    # given a delivery whose only attempt got a 500
    receiver = receivers(secret=TEST_SECRET, responder=answers(500, 200))
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=receiver.url, max_attempts=1)
    event = EventFactory(account=tenants["east_acct"])
    delivery = DeliveryFactory(webhook=webhook, event=event, next_attempt_at=timezone.now())
    assert deliveries_send([delivery.id]) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)

    # when it is redelivered (the receiver now answers 200)
    response = admin.post(f"{DELIVERIES}{delivery.id}/redeliver/")

    # then the new attempt is the second, answered 200, and the delivery succeeded
    assert response.status_code == 200
    result = response.json()
    assert result["attempt"]["number"] == 2
    assert result["attempt"]["response_status"] == 200
    assert result["attempt"]["error_class"] == ""
    assert result["delivery"]["id"] == str(delivery.id)
    assert result["delivery"]["status"] == "succeeded"
    assert result["delivery"]["attempts"] == 2
    assert result["delivery"]["last_status_code"] == 200
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.finished_at is not None
    assert (delivery.last_error, delivery.claim_token) == ("", None)
    # recorded beside the first, with the same webhook-id
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.response_status) for a in attempts] == [(1, 500), (2, 200)]
    assert {a.request_headers["webhook-id"] for a in attempts} == {str(event.id)}
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == str(event.id)
    assert second.signature == "valid"
    assert second.body == first.body
    assert result["attempt"]["request_headers"]["webhook-id"] == str(event.id)


def test_a_redelivery_that_fails_again_leaves_the_delivery_failed(
    admin, tenants, allow_private, receivers
):
    receiver = receivers(responder=always(503))
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=receiver.url, max_attempts=3)
    delivery = DeliveryFactory(webhook=webhook, status=DeliveryStatus.FAILED, attempts=3)
    for number in (1, 2, 3):
        DeliveryAttemptFactory(delivery=delivery, number=number)

    result = admin.post(f"{DELIVERIES}{delivery.id}/redeliver/").json()

    assert result["attempt"]["number"] == 4
    assert result["attempt"]["response_status"] == 503
    assert result["delivery"]["status"] == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 4, 503)
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 4
    assert len(receiver.received) == 1


def test_a_delivery_being_sent_cannot_be_redelivered(admin, tenants, allow_private, receivers):
    receiver = receivers()
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=receiver.url)
    delivery = DeliveryFactory(webhook=webhook, status=DeliveryStatus.SENDING, attempts=1)

    response = admin.post(f"{DELIVERIES}{delivery.id}/redeliver/")

    assert response.status_code == 409
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENDING, 1)
    assert not DeliveryAttempt.objects.exists()
    assert receiver.received == []


# --- deliveries: recover --------------------------------------------------------------------------

SINCE = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
UNTIL = dt.datetime(2024, 3, 2, tzinfo=dt.UTC)


def delivery_created(webhook, created_at, status=DeliveryStatus.FAILED) -> Delivery:
    delivery = DeliveryFactory(
        webhook=webhook,
        status=status,
        attempts=8,
        finished_at=created_at + dt.timedelta(hours=1),
        last_status_code=500,
    )
    Delivery.objects.filter(pk=delivery.pk).update(created_at=created_at)
    delivery.refresh_from_db()
    return delivery


@pytest.fixture
def recoverable(tenants):
    """A webhook's failed deliveries, two of them in [SINCE, UNTIL), and others."""
    webhook = WebhookFactory(account=tenants["east_acct"])
    other = WebhookFactory(account=tenants["east_acct"])
    return {
        "webhook": webhook,
        "in_range": [
            delivery_created(webhook, SINCE),
            delivery_created(webhook, UNTIL - dt.timedelta(microseconds=1)),
        ],
        "others": [
            delivery_created(webhook, SINCE - dt.timedelta(microseconds=1)),
            delivery_created(webhook, UNTIL),
            delivery_created(webhook, SINCE + dt.timedelta(hours=1), DeliveryStatus.SUCCEEDED),
            delivery_created(other, SINCE + dt.timedelta(hours=1)),
        ],
    }


def recover_body(webhook, **kwargs):
    return {"webhook": str(webhook.id), "since": SINCE.isoformat(), "until": UNTIL.isoformat()} | (
        kwargs
    )


def snapshot():
    return {
        d.pk: (d.status, d.next_attempt_at, d.finished_at, d.message_due_at)
        for d in Delivery.objects.all()
    }


def test_a_dry_run_recovery_counts_and_changes_nothing(admin, recoverable, monkeypatch):
    queued = []
    monkeypatch.setattr("deliveries.services.enqueue", lambda ids, **kw: queued.append(ids))
    before = snapshot()

    response = admin.post(
        f"{DELIVERIES}recover/", recover_body(recoverable["webhook"], dry_run=True), format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"count": 2, "dry_run": True}
    assert snapshot() == before
    assert queued == []


def test_recovery_queues_exactly_the_failed_deliveries_in_range(
    admin, recoverable, monkeypatch, django_capture_on_commit_callbacks
):
    # given
    queued = []
    monkeypatch.setattr("deliveries.services.enqueue", lambda ids, **kw: queued.append(list(ids)))
    before = snapshot()
    start = timezone.now()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            f"{DELIVERIES}recover/", recover_body(recoverable["webhook"]), format="json"
        )

    # then
    assert response.status_code == 200
    assert response.json() == {"count": 2, "dry_run": False}
    for delivery in recoverable["in_range"]:
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PENDING
        assert start <= delivery.next_attempt_at <= timezone.now()
        assert delivery.finished_at is None
    after = snapshot()
    for other in recoverable["others"]:
        assert after[other.pk] == before[other.pk]
    assert [set(ids) for ids in queued] == [{d.pk for d in recoverable["in_range"]}]


def test_recovery_without_until_runs_to_now(admin, recoverable):
    body = recover_body(recoverable["webhook"], dry_run=True)
    del body["until"]

    response = admin.post(f"{DELIVERIES}recover/", body, format="json")

    assert response.json() == {"count": 3, "dry_run": True}  # UNTIL's delivery too


def test_recovery_of_a_webhook_the_caller_cannot_see_is_refused(tenants, recoverable):
    user = MembershipFactory(account=tenants["west_acct"], role=Role.USER).user

    response = client_for(user).post(
        f"{DELIVERIES}recover/", recover_body(recoverable["webhook"], dry_run=True), format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["webhook"]


def test_recovery_is_throttled(admin, recoverable, settings, monkeypatch):
    # given a rate of two calls an hour
    rates = {"recover": "2/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    # SimpleRateThrottle read the rates when DRF loaded: give the class the new ones
    monkeypatch.setattr(RecoverThrottle, "THROTTLE_RATES", rates)
    body = recover_body(recoverable["webhook"], dry_run=True)

    # when
    statuses = [
        admin.post(f"{DELIVERIES}recover/", body, format="json").status_code for _ in range(3)
    ]

    # then
    assert statuses == [200, 200, 429]
    # per user: another root admin is not held up
    other = client_for(UserFactory(username="root2", is_superuser=True, is_staff=True))
    assert other.post(f"{DELIVERIES}recover/", body, format="json").status_code == 200


# --- tenants, users and tokens --------------------------------------------------------------------


def test_a_root_admin_sets_up_a_tenant_whose_admin_then_works_with_a_token(admin, root_domain):
    # when root creates a domain under ROOT, an account in it and a domain admin there
    response = admin.post(DOMAINS, {"name": "ops", "parent": str(root_domain.id)}, format="json")
    assert response.status_code == 201, response.json()
    domain = response.json()
    assert domain["parent"] == str(root_domain.id)
    assert domain["path"].startswith(root_domain.path)
    response = admin.post(ACCOUNTS, {"name": "ops-team", "domain": domain["id"]}, format="json")
    assert response.status_code == 201, response.json()
    account = response.json()
    assert account["domain"] == domain["id"]
    body = {
        "username": "olga",
        "password": "correct-horse-9",
        "account": account["id"],
        "role": "domain_admin",
    }
    response = admin.post(USERS, body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()

    # then the user exists, with that role in that account, and the password works
    assert created["username"] == "olga"
    assert (created["account"], created["role"]) == (account["id"], "domain_admin")
    assert "password" not in created
    assert "correct-horse-9" not in json.dumps(created)
    user = authenticate(username="olga", password="correct-horse-9")
    assert user is not None
    assert user.pk == created["id"]
    membership = Membership.objects.get(user=user)
    assert (str(membership.account_id), membership.role) == (account["id"], Role.DOMAIN_ADMIN)
    assert Domain.objects.get(pk=domain["id"]).parent == root_domain
    assert Account.objects.get(pk=account["id"]).name == "ops-team"

    # when root issues the user a token
    response = admin.post(TOKENS, {"user": user.pk}, format="json")

    # then its key is shown this once
    assert response.status_code == 201
    issued = response.json()
    key = issued["key"]
    assert issued["user"] == "olga"
    assert key.startswith(issued["id"])
    listed = admin.get(TOKENS).json()
    assert issued["id"] in {t["id"] for t in listed["results"]}
    assert all("key" not in t for t in listed["results"])
    assert key not in json.dumps(listed)
    assert "key" not in admin.get(f"{TOKENS}{issued['id']}/").json()

    # and the user works with it, sees its own token, and its own tenant
    olga = client_with_key(key)
    assert olga.get(WEBHOOKS).status_code == 200
    own = olga.get(TOKENS).json()["results"]
    assert [t["id"] for t in own] == [issued["id"]]
    assert all("key" not in t for t in own)
    assert [d["id"] for d in olga.get(DOMAINS).json()["results"]] == [domain["id"]]

    # when the user revokes it
    response = olga.delete(f"{TOKENS}{issued['id']}/")

    # then the key no longer works
    assert response.status_code == 204
    assert not AuthToken.objects.filter(user=user).exists()
    assert olga.get(WEBHOOKS).status_code == 401


def test_a_domain_with_accounts_cannot_be_deleted(admin, tenants):
    west = tenants["west"]

    response = admin.delete(f"{DOMAINS}{west.id}/")

    assert response.status_code == 409
    assert "accounts" in response.json()["detail"]
    assert Domain.objects.filter(pk=west.pk).exists()
    # once its account is gone, it can be
    assert admin.delete(f"{ACCOUNTS}{tenants['west_acct'].id}/").status_code == 204
    assert admin.delete(f"{DOMAINS}{west.id}/").status_code == 204
    assert not Domain.objects.filter(pk=west.pk).exists()


def test_a_duplicate_sibling_domain_name_is_refused(admin, tenants):
    body = {"name": "east", "parent": str(tenants["root"].id)}

    response = admin.post(DOMAINS, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert Domain.objects.filter(name="east").count() == 1


def test_renaming_a_domain_to_a_siblings_name_is_refused(admin, tenants):
    response = admin.patch(f"{DOMAINS}{tenants['west'].id}/", {"name": "east"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    tenants["west"].refresh_from_db()
    assert tenants["west"].name == "west"


def test_a_duplicate_account_name_in_a_domain_is_refused(admin, tenants):
    body = {"name": "east-acct", "domain": str(tenants["east"].id)}

    response = admin.post(ACCOUNTS, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert Account.objects.filter(name="east-acct").count() == 1


def test_the_same_domain_name_under_another_parent_is_fine(admin, tenants):
    body = {"name": "east", "parent": str(tenants["west"].id)}

    response = admin.post(DOMAINS, body, format="json")

    assert response.status_code == 201
    assert Domain.objects.filter(name="east").count() == 2


def test_create_token_prints_a_key_that_authenticates(tenants):
    MembershipFactory(
        user=UserFactory(username="cli-user"), account=tenants["east_acct"], role=Role.USER
    )
    out = io.StringIO()

    call_command("create_token", "cli-user", stdout=out)

    key = out.getvalue().strip()
    assert key
    assert client_with_key(key).get(WEBHOOKS).status_code == 200
    assert AuthToken.objects.filter(user__username="cli-user").count() == 1


def test_create_token_for_an_unknown_user_fails(db):
    with pytest.raises(CommandError, match="nobody"):
        call_command("create_token", "nobody", stdout=io.StringIO())


# --- pagination -----------------------------------------------------------------------------------


def test_limit_and_offset_give_a_slice_and_the_count(admin, tenants):
    for name in ("a", "b", "c", "d", "e"):
        WebhookFactory(name=name, account=tenants["east_acct"])

    page = admin.get(f"{WEBHOOKS}?ordering=name&limit=2&offset=1").json()

    assert page["count"] == 5
    assert [item["name"] for item in page["results"]] == ["b", "c"]
    assert "offset=3" in page["next"]
    assert page["previous"] is not None


def test_the_maximum_page_size_is_accepted_and_one_more_is_refused(admin, tenants, settings):
    settings.API_MAX_PAGE_SIZE = 3
    for _ in range(4):
        EventFactory(account=tenants["east_acct"])

    page = admin.get(f"{EVENTS}?limit=3")
    too_big = admin.get(f"{EVENTS}?limit=4")

    assert page.status_code == 200
    assert (page.json()["count"], len(page.json()["results"])) == (4, 3)
    assert too_big.status_code == 400
    assert list(too_big.json()) == ["limit"]


def test_the_default_maximum_page_size_is_accepted(admin):
    limit = django_settings.API_MAX_PAGE_SIZE

    assert admin.get(f"{DELIVERIES}?limit={limit}").status_code == 200
    assert admin.get(f"{DELIVERIES}?limit={limit + 1}").status_code == 400


def test_changing_a_users_role_answers_with_the_new_role(admin, tenants):
    # given a domain admin of east
    user = UserFactory()
    MembershipFactory(user=user, account=tenants["east_acct"], role="domain_admin")

    # when root makes them a plain user
    response = admin.patch(f"/api/v1/users/{user.pk}/", {"role": "user"}, format="json")

    # then the answer and the database both say so
    assert response.status_code == 200
    assert response.json()["role"] == "user"
    assert Membership.objects.get(user=user).role == "user"


def test_a_domain_admin_cannot_delete_an_account_holding_a_global_webhook(tenants, root_domain):
    """Deleting an account deletes its webhooks: a domain admin must not take a
    root admin's global webhook down with an account of their subtree."""
    from tests.api_client import client_for

    east_admin = UserFactory(username="east-api-admin")
    MembershipFactory(user=east_admin, account=tenants["east_acct"], role=Role.DOMAIN_ADMIN)
    WebhookFactory(account=tenants["east_sub_acct"], domain=root_domain, scope=Scope.GLOBAL)
    client = client_for(east_admin)
    response = client.delete(f"{ACCOUNTS}{tenants['east_sub_acct'].pk}/")
    assert response.status_code == 403
    assert "global ones" in response.json()["detail"]
    assert Webhook.objects.filter(account=tenants["east_sub_acct"]).exists()
    # an account with only its own local webhook still goes
    WebhookFactory(account=tenants["east_acct"], name="plain")
    other = AccountFactory(domain=tenants["east_sub"], name="spare")
    WebhookFactory(account=other)
    assert client.delete(f"{ACCOUNTS}{other.pk}/").status_code == 204
