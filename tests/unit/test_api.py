"""The REST API, through DRF's test client with token authentication.

Publishing really runs: its on-commit enqueue never fires inside the test's
transaction, and would go to Redis database 15 if it did.
"""

import json
import uuid

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from deliveries.models import Delivery, DeliveryStatus, Event
from hooks.models import Role, Scope, Webhook
from hooks.services import check_secret
from tests.api_client import client_for
from tests.factories import (
    TEST_SECRET,
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

EVENTS = "/api/v1/events/"
WEBHOOKS = "/api/v1/webhooks/"
DELIVERIES = "/api/v1/deliveries/"
EVENT_ID = "01890a5d-ac96-774b-bcce-b302099a8057"


@pytest.fixture
def admin(db):
    return client_for(UserFactory(username="root", is_superuser=True, is_staff=True))


@pytest.fixture
def east_user(tenants):
    """A plain user of east's account."""
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    return client_for(membership.user)


@pytest.fixture
def east_hook(tenants):
    return WebhookFactory(name="east-local", account=tenants["east_acct"])


def event_body(tenants, **kwargs):
    body = {
        "id": EVENT_ID,
        "type": "VM.CREATE",
        "account": str(tenants["east_acct"].id),
        "data": {"name": "vm-1", "cpu": 2},
    }
    body.update(kwargs)
    return body


# --- publishing events ---------------------------------------------------------------------


def test_publishing_an_event_accepts_it_and_counts_deliveries(admin, tenants, east_hook):
    # when
    response = admin.post(EVENTS, event_body(tenants), format="json")

    # then
    assert response.status_code == 202
    assert response.json() == {"id": EVENT_ID, "deliveries": 1, "created": True}
    event = Event.objects.get(id=EVENT_ID)
    assert event.data == {"name": "vm-1", "cpu": 2}
    assert event.account == tenants["east_acct"]
    assert Delivery.objects.get(event=event).webhook == east_hook


def test_an_event_without_an_id_gets_one(admin, tenants, east_hook):
    body = event_body(tenants)
    del body["id"]

    response = admin.post(EVENTS, body, format="json")

    assert response.status_code == 202
    assert Event.objects.filter(id=uuid.UUID(response.json()["id"])).exists()


def test_publishing_the_same_event_again_is_ok_and_makes_nothing_new(admin, tenants, east_hook):
    admin.post(EVENTS, event_body(tenants), format="json")

    response = admin.post(EVENTS, event_body(tenants), format="json")

    assert response.status_code == 200
    assert response.json() == {"id": EVENT_ID, "deliveries": 1, "created": False}
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 1


def test_the_same_timestamp_in_another_offset_is_the_same_event(admin, tenants):
    first = event_body(tenants, timestamp="2024-01-01T00:00:00.123456Z")
    again = event_body(tenants, timestamp="2024-01-01T02:00:00.123456+02:00")

    assert admin.post(EVENTS, first, format="json").status_code == 202
    response = admin.post(EVENTS, again, format="json")

    assert response.status_code == 200
    assert response.json()["created"] is False


def test_the_same_id_with_another_timestamp_is_a_conflict(admin, tenants):
    admin.post(EVENTS, event_body(tenants, timestamp="2024-01-01T00:00:00Z"), format="json")

    response = admin.post(
        EVENTS, event_body(tenants, timestamp="2024-01-01T00:00:01Z"), format="json"
    )

    assert response.status_code == 409


def test_the_same_id_with_different_data_is_a_conflict(admin, tenants, east_hook):
    admin.post(EVENTS, event_body(tenants), format="json")

    response = admin.post(EVENTS, event_body(tenants, data={"name": "vm-2"}), format="json")

    assert response.status_code == 409
    assert EVENT_ID in response.json()["detail"]
    assert Event.objects.get(id=EVENT_ID).data == {"name": "vm-1", "cpu": 2}


def test_publishing_without_a_token_is_unauthorized(tenants):
    response = APIClient().post(EVENTS, event_body(tenants), format="json")

    assert response.status_code == 401
    assert not Event.objects.exists()


def test_a_wrong_token_is_unauthorized(tenants):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    response = client.post(EVENTS, event_body(tenants), format="json")

    assert response.status_code == 401


def test_malformed_json_is_a_bad_request(admin):
    response = admin.post(EVENTS, '{"type": "VM.CREATE",', content_type="application/json")

    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["detail"]


def test_a_body_that_is_not_utf8_is_a_bad_request(admin):
    response = admin.post(EVENTS, b'{"type": "\xff"}', content_type="application/json")

    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]


# DRF 3.18 hands JSONParser subclasses io.BytesIO(request.body), and Django's
# request.body raises RequestDataTooBig (DATA_UPLOAD_MAX_MEMORY_SIZE is the same
# limit) before LimitedJSONParser can answer 413: the client gets an HTML 400.
def test_a_body_over_the_limit_is_too_large(admin, tenants):
    # given a body one byte over the limit
    body = json.dumps(event_body(tenants, data={"blob": ""}))
    padding = settings.WEBHOOK_EVENT_MAX_BYTES + 1 - len(body)
    body = json.dumps(event_body(tenants, data={"blob": "x" * padding}))
    assert len(body.encode()) == settings.WEBHOOK_EVENT_MAX_BYTES + 1

    # when
    response = admin.post(EVENTS, body, content_type="application/json")

    # then
    assert response.status_code == 413
    assert str(settings.WEBHOOK_EVENT_MAX_BYTES) in response.json()["detail"]
    assert not Event.objects.exists()


def test_a_body_at_the_limit_is_accepted(admin, tenants):
    body = json.dumps(event_body(tenants, data={"blob": ""}))
    padding = settings.WEBHOOK_EVENT_MAX_BYTES - len(body)
    body = json.dumps(event_body(tenants, data={"blob": "x" * padding}))

    response = admin.post(EVENTS, body, content_type="application/json")

    assert response.status_code == 202


def nested(depth: int) -> dict:
    """Data whose document (body included) is `depth` levels deep."""
    value: object = 1
    for _ in range(depth - 2):  # the body object and "data" take two levels
        value = {"a": value}
    return value


def test_nesting_deeper_than_32_levels_is_a_bad_request(admin, tenants):
    response = admin.post(EVENTS, event_body(tenants, data=nested(34)), format="json")

    assert response.status_code == 400
    assert "nested deeper than 32" in response.json()["detail"]
    assert not Event.objects.exists()


def test_nesting_of_32_levels_is_accepted(admin, tenants):
    response = admin.post(EVENTS, event_body(tenants, data=nested(32)), format="json")

    assert response.status_code == 202


def test_nesting_too_deep_for_the_json_parser_is_a_bad_request_not_a_crash(admin):
    body = "[" * 100_000 + "]" * 100_000

    response = admin.post(EVENTS, body, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_a_bad_event_type_is_named(admin, tenants):
    response = admin.post(EVENTS, event_body(tenants, type="VM CREATE!"), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["type"]


def test_data_must_be_an_object(admin, tenants):
    for data in (["a", "b"], "text", 3):
        response = admin.post(EVENTS, event_body(tenants, data=data), format="json")

        assert response.status_code == 400
        assert list(response.json()) == ["data"]


def test_a_body_that_is_not_an_object_is_a_bad_request(admin):
    response = admin.post(EVENTS, [{"type": "VM.CREATE"}], format="json")

    assert response.status_code == 400


# PostgreSQL's jsonb cannot store U+0000: the insert fails with DataError, a 500
# (SQLite stores it, so the two databases disagree). Strings elsewhere in the
# body are DRF CharFields, which refuse NUL already.
def test_a_nul_character_in_data_is_a_bad_request(admin, tenants):
    response = admin.post(EVENTS, event_body(tenants, data={"note": "a\u0000b"}), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["data"]


def test_a_nul_character_in_the_resource_is_a_bad_request(admin, tenants):
    body = event_body(tenants, resource={"id": "vm\u0000", "type": "VirtualMachine"})

    response = admin.post(EVENTS, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["resource"]


def test_an_unknown_account_is_a_bad_request(admin, tenants):
    response = admin.post(EVENTS, event_body(tenants, account=str(uuid.uuid4())), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["account"]


def test_a_body_that_is_not_json_is_an_unsupported_media_type(admin, tenants):
    response = admin.post(EVENTS, json.dumps(event_body(tenants)), content_type="text/plain")

    assert response.status_code == 415
    assert not Event.objects.exists()


def test_a_user_publishes_for_their_own_account_by_default(east_user, tenants, east_hook):
    body = event_body(tenants)
    del body["account"]

    response = east_user.post(EVENTS, body, format="json")

    assert response.status_code == 202
    assert Event.objects.get().account == tenants["east_acct"]
    assert response.json()["deliveries"] == 1


def test_a_user_cannot_publish_for_another_account(east_user, tenants):
    body = event_body(tenants, account=str(tenants["west_acct"].id))

    response = east_user.post(EVENTS, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["account"]
    assert not Event.objects.exists()


# --- webhooks -------------------------------------------------------------------------------


def webhook_body(tenants, **kwargs):
    body = {
        "name": "orders",
        "account": str(tenants["east_acct"].id),
        "payload_url": "https://example.com/hook",
        "event_types": ["VM.*"],
    }
    body.update(kwargs)
    return body


def test_creating_a_webhook_shows_its_generated_secret_once(admin, tenants):
    # when
    response = admin.post(WEBHOOKS, webhook_body(tenants), format="json")

    # then the secret is in the answer to the creation
    assert response.status_code == 201
    created = response.json()
    secret = created["secret"]
    check_secret(secret)
    webhook = Webhook.objects.get(id=created["id"])
    assert webhook.secret == secret
    assert webhook.domain == tenants["east"]
    assert created["has_secret"] is True
    assert created["event_types"] == ["VM.*"]

    # and never again
    shown = admin.get(f"{WEBHOOKS}{created['id']}/").json()
    assert "secret" not in shown
    assert shown["has_secret"] is True
    listed = admin.get(WEBHOOKS).json()["results"]
    assert all("secret" not in item for item in listed)
    assert secret not in json.dumps(listed)


def test_a_secret_given_by_the_client_is_not_echoed(admin, tenants):
    response = admin.post(WEBHOOKS, webhook_body(tenants, secret=TEST_SECRET), format="json")

    assert response.status_code == 201
    assert "secret" not in response.json()
    assert Webhook.objects.get().secret == TEST_SECRET


def test_an_empty_secret_means_unsigned(admin, tenants):
    response = admin.post(WEBHOOKS, webhook_body(tenants, secret=""), format="json")

    assert response.status_code == 201
    assert response.json()["has_secret"] is False
    assert Webhook.objects.get().secret == ""


def test_a_malformed_secret_is_refused(admin, tenants):
    response = admin.post(WEBHOOKS, webhook_body(tenants, secret="whsec_short"), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["secret"]


def test_the_listener_password_is_never_shown(admin, tenants):
    body = webhook_body(tenants, auth_username="listener", auth_password="hunter2")

    created = admin.post(WEBHOOKS, body, format="json").json()
    shown = admin.get(f"{WEBHOOKS}{created['id']}/").json()

    assert created["auth_username"] == shown["auth_username"] == "listener"
    assert "auth_password" not in created
    assert "auth_password" not in shown
    assert "hunter2" not in json.dumps([created, shown])


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/", "http://localhost:8080/x", "http://169.254.169.254/", "ftp://x/"]
)
def test_a_private_or_bad_payload_url_is_refused(admin, tenants, url):
    assert settings.WEBHOOK_ALLOW_PRIVATE_IPS is False

    response = admin.post(WEBHOOKS, webhook_body(tenants, payload_url=url), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["payload_url"]
    assert not Webhook.objects.exists()


def test_a_user_creates_a_local_webhook_for_their_own_account(east_user, tenants):
    body = webhook_body(tenants)
    del body["account"]

    response = east_user.post(WEBHOOKS, body, format="json")

    assert response.status_code == 201
    webhook = Webhook.objects.get()
    assert webhook.account == tenants["east_acct"]
    assert webhook.scope == Scope.LOCAL


@pytest.mark.parametrize("scope", [Scope.GLOBAL, Scope.DOMAIN])
def test_a_user_cannot_create_a_wider_webhook(east_user, tenants, scope):
    response = east_user.post(WEBHOOKS, webhook_body(tenants, scope=scope), format="json")

    # a role that cannot: 403, saying which scopes users may have
    assert response.status_code == 403
    assert response.json()["detail"] in {
        "Only root admins may have global webhooks.",
        "Users may only have local webhooks.",
    }
    assert not Webhook.objects.exists()


def test_a_user_cannot_create_a_webhook_for_another_account(east_user, tenants):
    body = webhook_body(tenants, account=str(tenants["west_acct"].id))

    response = east_user.post(WEBHOOKS, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["account"]
    assert not Webhook.objects.exists()


def test_a_user_cannot_file_their_webhook_under_another_domain(east_user, tenants):
    # A user's local webhook placed in west's domain would be shown to west's
    # domain admins (with its deliveries), and hidden from east's.
    body = webhook_body(tenants, domain=str(tenants["west"].id))

    response = east_user.post(WEBHOOKS, body, format="json")

    assert response.status_code == 400
    assert not Webhook.objects.exists()


def test_a_root_admin_may_create_a_global_webhook(admin, tenants):
    response = admin.post(WEBHOOKS, webhook_body(tenants, scope=Scope.GLOBAL), format="json")

    assert response.status_code == 201
    assert Webhook.objects.get().scope == Scope.GLOBAL


def test_a_user_lists_only_their_accounts_webhooks(east_user, admin, tenants):
    # given
    mine = WebhookFactory(account=tenants["east_acct"])
    WebhookFactory(account=tenants["west_acct"])
    WebhookFactory(account=tenants["east_sub_acct"])
    WebhookFactory(account=tenants["root_acct"], scope=Scope.GLOBAL)

    # when
    listed = east_user.get(WEBHOOKS).json()

    # then
    assert [item["id"] for item in listed["results"]] == [str(mine.id)]
    assert listed["count"] == 1
    assert admin.get(WEBHOOKS).json()["count"] == 4


def test_a_user_cannot_read_another_accounts_webhook(east_user, tenants):
    other = WebhookFactory(account=tenants["west_acct"])

    response = east_user.get(f"{WEBHOOKS}{other.id}/")

    assert response.status_code == 404


# --- deliveries -------------------------------------------------------------------------------


def test_a_user_lists_only_their_accounts_deliveries(east_user, tenants):
    mine = DeliveryFactory(webhook=WebhookFactory(account=tenants["east_acct"]))
    theirs = DeliveryFactory(webhook=WebhookFactory(account=tenants["west_acct"]))

    listed = east_user.get(DELIVERIES).json()

    assert [item["id"] for item in listed["results"]] == [str(mine.id)]
    assert east_user.get(f"{DELIVERIES}{theirs.id}/").status_code == 404


def test_a_delivery_shows_its_attempts(admin, tenants):
    # given a delivery tried twice
    delivery = DeliveryFactory(
        webhook=WebhookFactory(account=tenants["east_acct"]),
        status=DeliveryStatus.SUCCEEDED,
        attempts=2,
        last_status_code=200,
    )
    DeliveryAttemptFactory(
        delivery=delivery,
        number=1,
        response_status=None,
        error_class="Timeout",
        request_headers={"Authorization": "[redacted]"},
    )
    DeliveryAttemptFactory(delivery=delivery, number=2, response_status=200, response_body=b"ok")

    # when
    shown = admin.get(f"{DELIVERIES}{delivery.id}/").json()

    # then
    assert shown["status"] == "succeeded"
    assert shown["event_type"] == "VM.CREATE"
    assert [a["number"] for a in shown["attempts_made"]] == [1, 2]
    first, second = shown["attempts_made"]
    assert (first["error_class"], first["response_status"]) == ("Timeout", None)
    assert first["request_headers"] == {"Authorization": "[redacted]"}
    assert (second["response_status"], second["response_body"]) == (200, "ok")


def test_the_delivery_list_does_not_include_attempts(admin, tenants):
    DeliveryAttemptFactory(delivery=DeliveryFactory())

    [item] = admin.get(DELIVERIES).json()["results"]

    assert "attempts_made" not in item


def test_deliveries_filter_by_status_webhook_and_event(admin, tenants):
    # given
    webhook = WebhookFactory(account=tenants["east_acct"])
    event = EventFactory(account=tenants["east_acct"])
    failed = DeliveryFactory(webhook=webhook, status=DeliveryStatus.FAILED)
    pending = DeliveryFactory(webhook=webhook, event=event, status=DeliveryStatus.PENDING)
    other = DeliveryFactory(status=DeliveryStatus.FAILED)

    def ids(query):
        return {item["id"] for item in admin.get(DELIVERIES + query).json()["results"]}

    # then
    assert ids("?status=failed") == {str(failed.id), str(other.id)}
    assert ids("?status=pending") == {str(pending.id)}
    assert ids("?status=succeeded") == set()
    assert ids(f"?webhook={webhook.id}") == {str(failed.id), str(pending.id)}
    assert ids(f"?webhook={webhook.id}&status=failed") == {str(failed.id)}
    assert ids(f"?event={event.id}") == {str(pending.id)}


def test_a_malformed_filter_is_a_bad_request(admin):
    response = admin.get(DELIVERIES + "?webhook=not-a-uuid")

    assert response.status_code == 400


def test_a_user_sees_only_their_accounts_events(east_user, tenants):
    mine = EventFactory(account=tenants["east_acct"])
    EventFactory(account=tenants["west_acct"])

    listed = east_user.get(EVENTS).json()

    assert [item["id"] for item in listed["results"]] == [str(mine.id)]
    assert listed["results"][0]["envelope"]["id"] == str(mine.id)
