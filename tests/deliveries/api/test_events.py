"""/api/v1/events/ and /api/v1/events/batch/: publishing, reading, filtering; and
the bad input an event refuses.

Publishing really runs: its on-commit enqueue never fires inside the test's
transaction, and would go to the tests' Redis database if it did.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from deliveries.models import Delivery, Event
from tests.api_client import (
    BAD_EVENT_TYPES,
    assert_field_error,
    errors,
    event_item,
    nothing_written,
)
from tests.conftest import (
    BATCH,
    EVENTS,
    PUBLIC_URL,
    TEST_URL,
    UNKNOWN_ID,
    WEBHOOKS,
)
from tests.factories import (
    EventFactory,
    WebhookFactory,
)

pytestmark = [
    pytest.mark.django_db,
]


EVENT_ID = "01890a5d-ac96-774b-bcce-b302099a8057"


def event_body(tenants, **kwargs):
    body = {
        "id": EVENT_ID,
        "type": "VM.CREATE",
        "account": str(tenants["east_acct"].id),
        "data": {"name": "vm-1", "cpu": 2},
    }
    body.update(kwargs)
    return body


# --- publishing -------------------------------------------------------------------------------


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


# --- request bodies ---------------------------------------------------------------------------


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


def test_a_body_that_is_not_an_object_is_a_bad_request(admin):
    response = admin.post(EVENTS, [{"type": "VM.CREATE"}], format="json")

    assert response.status_code == 400


def test_a_body_that_is_not_json_is_an_unsupported_media_type(admin, tenants):
    response = admin.post(EVENTS, json.dumps(event_body(tenants)), content_type="text/plain")

    assert response.status_code == 415
    assert not Event.objects.exists()


# --- fields -----------------------------------------------------------------------------------


def test_a_bad_event_type_is_named(admin, tenants):
    response = admin.post(EVENTS, event_body(tenants, type="VM CREATE!"), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["type"]


def test_data_must_be_an_object(admin, tenants):
    for data in (["a", "b"], "text", 3):
        response = admin.post(EVENTS, event_body(tenants, data=data), format="json")

        assert response.status_code == 400
        assert list(response.json()) == ["data"]


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


@pytest.mark.parametrize("event_type", BAD_EVENT_TYPES)
def test_publishing_an_event_type_with_forbidden_characters_is_400(admin, tenants, event_type):
    with nothing_written():
        response = admin.post(EVENTS, event_item(tenants, type=event_type), format="json")

    assert_field_error(response, "type", "")


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        pytest.param(EVENTS, {}, id="event"),
        pytest.param(TEST_URL, {"payload_url": "https://example.com/hook"}, id="test-url"),
        pytest.param("webhook-test", {}, id="webhook-test"),
    ],
)
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(["a", "b"], id="list"),
        pytest.param("text", id="string"),
        pytest.param(3, id="number"),
        pytest.param(None, id="null"),
    ],
)
def test_event_data_that_is_not_an_object_is_400_naming_data(
    admin, tenants, hook, path, extra, data
):
    url = f"{WEBHOOKS}{hook.id}/test/" if path == "webhook-test" else path
    body = {**extra, "type": "VM.CREATE", "data": data}
    if path == EVENTS:
        body["account"] = str(tenants["east_acct"].id)

    with nothing_written():
        response = admin.post(url, body, format="json")

    assert_field_error(response, "data", "dictionary" if data is not None else "null")


# --- batches ----------------------------------------------------------------------------------


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


def test_a_batch_over_the_limit_is_400_naming_events(admin, tenants):
    limit = settings.API_EVENT_BATCH_MAX
    items = [event_item(tenants, id=str(uuid.uuid4())) for _ in range(limit + 1)]

    with nothing_written():
        response = admin.post(BATCH, {"events": items}, format="json")

    assert_field_error(response, "events", f"At most {limit} events")


@pytest.mark.usefixtures("no_sending")
def test_a_batch_at_the_limit_is_accepted(admin, tenants):
    items = [event_item(tenants) for _ in range(settings.API_EVENT_BATCH_MAX)]

    response = admin.post(BATCH, {"events": items}, format="json")

    assert response.status_code == 202, response.content[:300]
    assert Event.objects.count() == settings.API_EVENT_BATCH_MAX


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param({"events": []}, "empty", id="empty-list"),
        pytest.param({}, "required", id="missing"),
        pytest.param({"events": None}, "null", id="null"),
        pytest.param({"events": {"type": "VM.CREATE"}}, "list", id="object-not-list"),
        pytest.param({"events": "VM.CREATE"}, "list", id="string"),
    ],
)
def test_an_empty_or_malformed_batch_is_400_naming_events(admin, body, fragment):
    with nothing_written():
        response = admin.post(BATCH, body, format="json")

    assert_field_error(response, "events", fragment)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        pytest.param({"type": "VM CREATE"}, "type", id="bad-type"),
        pytest.param({"data": ["not", "an", "object"]}, "data", id="data-not-object"),
        pytest.param({"data": {"note": "a\u0000b"}}, "data", id="nul-in-data"),
        pytest.param({"account": UNKNOWN_ID}, "account", id="unknown-account"),
        pytest.param({"timestamp": "yesterday"}, "timestamp", id="bad-timestamp"),
        pytest.param({"id": "not-a-uuid"}, "id", id="bad-id"),
    ],
)
def test_one_bad_item_refuses_the_whole_batch_naming_it(admin, tenants, hook, bad, field):
    # given two good events around a bad one
    items = [event_item(tenants), event_item(tenants, **bad), event_item(tenants)]

    # when
    with nothing_written():
        response = admin.post(BATCH, {"events": items}, format="json")

    # then the answer points at events[1].<field>, and none of the three was stored
    assert response.status_code == 400, response.content[:300]
    body = errors(response)
    assert list(body) == ["events"], body
    per_item = body["events"]
    if isinstance(per_item, list):  # DRF's older shape: one entry per item, {} when fine
        per_item = {str(i): e for i, e in enumerate(per_item) if e}
    assert list(per_item) == ["1"], per_item
    assert field in per_item["1"], per_item


def test_a_batch_item_that_is_not_an_object_is_400(admin, tenants):
    items = [event_item(tenants), "VM.CREATE"]

    with nothing_written():
        response = admin.post(BATCH, {"events": items}, format="json")

    assert response.status_code == 400
    assert "events" in errors(response)


# --- reading ----------------------------------------------------------------------------------


def test_a_user_sees_only_their_accounts_events(east_user, tenants):
    mine = EventFactory(account=tenants["east_acct"])
    EventFactory(account=tenants["west_acct"])

    listed = east_user.get(EVENTS).json()

    assert [item["id"] for item in listed["results"]] == [str(mine.id)]
    assert listed["results"][0]["envelope"]["id"] == str(mine.id)


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
