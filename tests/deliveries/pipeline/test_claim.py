"""Claiming and recording: the database decides who sends, and only the
current claimant writes a delivery's outcome."""

import datetime as dt
import uuid

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deliveries import services
from deliveries.http import Response
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from deliveries.services import _attempt, decide, deliveries_claim, record_outcomes
from tests.factories import DeliveryFactory, EventFactory, WebhookFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def enqueued(monkeypatch):
    """Retries queued by record_outcomes, instead of going to Redis."""
    calls = []
    monkeypatch.setattr(services, "enqueue", lambda ids, **kw: calls.append((list(ids), kw)))
    return calls


def due(n=1, **kwargs):
    event = EventFactory()
    return [
        DeliveryFactory(event=event, webhook=WebhookFactory(), next_attempt_at=NOW, **kwargs)
        for _ in range(n)
    ]


def outcome_of(delivery, response):
    attempt = _attempt(delivery, delivery.webhook.payload_url, [], response, NOW)
    return delivery, attempt, decide(delivery, response, now=NOW)


OK = Response(status_code=200)
FAIL = Response(status_code=503)


# --- claiming -----------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_a_claim_takes_the_pending_due_rows_with_their_event_and_webhook():
    deliveries = due(3)

    with CaptureQueriesContext(connection) as queries:
        token, claimed = deliveries_claim([d.id for d in deliveries])
        # Given with the claim: reading them costs no further query.
        urls = {d.webhook.payload_url for d in claimed}
        types = {d.event.type for d in claimed}

    assert {d.id for d in claimed} == {d.id for d in deliveries}
    assert urls == {d.webhook.payload_url for d in deliveries} and types == {"VM.CREATE"}
    # One UPDATE … RETURNING, then the events and the webhooks by key.
    assert len(queries) == 3
    for d in claimed:
        assert (d.status, d.claim_token, d.attempts) == (DeliveryStatus.SENDING, token, 1)
        assert d.lease_expires_at == NOW + dt.timedelta(seconds=300)
        assert d.message_due_at is None
    stored = Delivery.objects.get(id=deliveries[0].id)
    assert (stored.status, stored.claim_token, stored.attempts) == ("sending", token, 1)


@time_machine.travel(NOW, tick=False)
def test_a_second_message_for_the_same_rows_claims_nothing():
    deliveries = due(2)
    ids = [d.id for d in deliveries]
    deliveries_claim(ids)

    _, claimed = deliveries_claim(ids)

    assert claimed == []
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


@time_machine.travel(NOW, tick=False)
def test_rows_not_yet_due_or_finished_are_not_claimed():
    later = due(1)[0]
    Delivery.objects.filter(id=later.id).update(next_attempt_at=NOW + dt.timedelta(seconds=5))
    done = due(1, status=DeliveryStatus.SUCCEEDED)[0]

    _, claimed = deliveries_claim([later.id, done.id])

    assert claimed == []
    assert Delivery.objects.get(id=later.id).status == DeliveryStatus.PENDING


@time_machine.travel(NOW, tick=False)
def test_a_claim_tops_up_with_other_due_rows_to_the_batch_size(settings):
    settings.WEBHOOK_BATCH_SIZE = 4
    mine = due(1)
    others = due(5)

    _, claimed = deliveries_claim([mine[0].id])

    assert len(claimed) == 4
    assert mine[0].id in {d.id for d in claimed}
    assert len({d.id for d in others} & {d.id for d in claimed}) == 3
    # What is left waits for its own message.
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2


@time_machine.travel(NOW, tick=False)
def test_an_unknown_id_claims_nothing_and_does_not_fail(settings):
    settings.WEBHOOK_BATCH_SIZE = 1

    assert deliveries_claim([str(uuid.uuid4())])[1] == []


# --- recording ----------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_outcomes_are_written_for_the_claim_that_holds(enqueued):
    deliveries = due(2)
    token, claimed = deliveries_claim([d.id for d in deliveries])

    updated = record_outcomes(token, [outcome_of(claimed[0], OK), outcome_of(claimed[1], FAIL)])

    assert updated == 2
    by_id = {d.id: d for d in Delivery.objects.all()}
    ok, failed = by_id[claimed[0].id], by_id[claimed[1].id]
    assert (ok.status, ok.finished_at, ok.claim_token, ok.last_status_code) == (
        DeliveryStatus.SUCCEEDED,
        NOW,
        None,
        200,
    )
    assert (failed.status, failed.claim_token, failed.last_error) == ("pending", None, "HTTP 503")
    assert failed.next_attempt_at > NOW
    assert DeliveryAttempt.objects.filter(delivery__in=deliveries, number=1).count() == 2
    # The near retry rides in Redis, due when the delivery is.
    assert [ids for ids, _ in enqueued] == [[failed.id]]


@time_machine.travel(NOW, tick=False)
def test_a_worker_that_overran_its_lease_cannot_overwrite_the_next_claimant(enqueued):
    """Its attempt is still history; the delivery row is the new claimant's."""
    delivery = due(1)[0]
    old_token, old_claim = deliveries_claim([delivery.id])
    # The lease ran out and the delivery was claimed again by someone else.
    new_token = uuid.uuid4()
    Delivery.objects.filter(id=delivery.id).update(claim_token=new_token, attempts=2)

    updated = record_outcomes(old_token, [outcome_of(old_claim[0], OK)])

    assert updated == 0
    stored = Delivery.objects.get(id=delivery.id)
    assert (stored.status, stored.claim_token) == (DeliveryStatus.SENDING, new_token)
    assert list(DeliveryAttempt.objects.values_list("number", "response_status")) == [(1, 200)]


@time_machine.travel(NOW, tick=False)
def test_attempts_of_deliveries_deleted_mid_send_are_dropped_the_rest_recorded(enqueued):
    deliveries = due(3)
    token, claimed = deliveries_claim([d.id for d in deliveries])
    gone = claimed[1]
    gone.webhook.delete()  # cascades to its delivery while the request is in flight

    updated = record_outcomes(token, [outcome_of(d, OK) for d in claimed])

    assert updated == 2
    assert set(DeliveryAttempt.objects.values_list("delivery_id", flat=True)) == {
        claimed[0].id,
        claimed[2].id,
    }
    assert Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == 2


@time_machine.travel(NOW, tick=False)
def test_recording_a_batch_that_is_all_ours_takes_one_update_and_one_insert(enqueued):
    deliveries = due(5)
    token, claimed = deliveries_claim([d.id for d in deliveries])

    with CaptureQueriesContext(connection) as queries:
        record_outcomes(token, [outcome_of(d, OK) for d in claimed])

    statements = [q["sql"].split()[0] for q in queries]
    # (The test's own transaction turns BEGIN/COMMIT into a savepoint.)
    assert [s for s in statements if s in ("SELECT", "UPDATE", "INSERT")] == ["UPDATE", "INSERT"]
    assert DeliveryAttempt.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_a_claim_never_waits_for_rows_another_claimant_holds():
    """Two claims whose top-ups take each other's rows would deadlock if either
    waited (PostgreSQL breaks it after a second, failing a task): a row held
    elsewhere is skipped, and whoever holds it claims it."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks that another connection holds need PostgreSQL")
    import psycopg

    held, free = due(2)
    Delivery.objects.update(next_attempt_at=timezone.now())
    settings_dict = connection.settings_dict
    other = psycopg.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"] or None,
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
    )
    try:
        # Another claimant holds one of our message's rows, mid-claim.
        other.execute(
            "SELECT 1 FROM deliveries_delivery WHERE id = %s FOR UPDATE", [held.id]
        ).fetchall()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # waiting would fail the test
        try:
            _, claimed = deliveries_claim([held.id, free.id])
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")
    finally:
        other.rollback()
        other.close()

    assert [d.id for d in claimed] == [free.id]
    assert Delivery.objects.get(id=held.id).status == DeliveryStatus.PENDING
