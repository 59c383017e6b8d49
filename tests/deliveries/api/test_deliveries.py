"""/api/v1/deliveries/: reading and filtering, deleting one or in bulk,
redelivering, recovering; and the bad input recover refuses.

Redeliveries go to a real deliveries.receiver.Receiver on 127.0.0.1 (so those
tests allow private destinations); where a test needs what would be queued, it
captures the on-commit callbacks with enqueue patched.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from deliveries.jobs_api import RecoverThrottle
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from deliveries.pipeline.send import deliveries_send
from deliveries.receiver import always
from hooks.models import Role
from tests.api_client import (
    assert_field_error,
    client_for,
    nothing_written,
)
from tests.conftest import (
    DELIVERIES,
    RECOVER,
    UNKNOWN_ID,
)
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


# --- reading ----------------------------------------------------------------------------------


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


# --- delete -----------------------------------------------------------------------------------


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


# --- redeliver --------------------------------------------------------------------------------


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


# --- recover ----------------------------------------------------------------------------------


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
    monkeypatch.setattr("deliveries.queue.deliveries_enqueue", lambda ids, **kw: queued.append(ids))
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
    monkeypatch.setattr(
        "deliveries.queue.deliveries_enqueue", lambda ids, **kw: queued.append(list(ids))
    )
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


@pytest.mark.parametrize(
    ("since", "until"),
    [
        pytest.param("2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z", id="since-after-until"),
        pytest.param("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", id="since-equals-until"),
        pytest.param("2024-01-01T02:00:00+02:00", "2024-01-01T00:00:00Z", id="same-instant"),
        pytest.param("2999-01-01T00:00:00Z", None, id="since-in-the-future"),
    ],
)
def test_recover_with_since_not_before_until_is_400_naming_since(
    admin, hook, delivery, since, until
):
    body = {"webhook": str(hook.id), "since": since}
    if until:
        body["until"] = until

    with nothing_written():
        response = admin.post(RECOVER, body, format="json")

    assert_field_error(response, "since", "Must be before until")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"since": "2024-01-01T00:00:00Z"}, "webhook", id="missing-webhook"),
        pytest.param({"webhook": UNKNOWN_ID, "since": "2024-01-01T00:00:00Z"}, "webhook", id="u"),
        pytest.param({"webhook": "hook", "since": "last week"}, "since", id="bad-since"),
        pytest.param({"webhook": "hook"}, "since", id="missing-since"),
        pytest.param(
            {"webhook": "hook", "since": "2024-01-01T00:00:00Z", "dry_run": "perhaps"},
            "dry_run",
            id="bad-dry-run",
        ),
    ],
)
def test_recover_with_a_bad_field_is_400_naming_it(admin, hook, delivery, body, field):
    body = {k: str(hook.id) if v == "hook" else v for k, v in body.items()}

    with nothing_written():
        response = admin.post(RECOVER, body, format="json")

    assert_field_error(response, field, "")


def test_recover_of_another_tenants_webhook_is_400_naming_webhook(east_user, tenants):
    theirs = WebhookFactory(account=tenants["west_acct"], payload_url="https://example.com/x")
    DeliveryFactory(webhook=theirs, status=DeliveryStatus.FAILED)
    body = {"webhook": str(theirs.id), "since": "2000-01-01T00:00:00Z"}

    with nothing_written():
        response = east_user.post(RECOVER, body, format="json")

    assert_field_error(response, "webhook", "does not exist")
