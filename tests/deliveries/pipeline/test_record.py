"""Recording outcomes: one pass over a batch's results, and only the current
claimant writes a delivery's outcome."""

import uuid

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deliveries import queue
from deliveries.http import SendResult
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from deliveries.pipeline.claim import deliveries_claim
from deliveries.pipeline.outcome import decide
from deliveries.pipeline.record import attempt_build, outcomes_record
from tests.deliveries.pipeline.conftest import NOW, due

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch):
    """Retries queued by outcomes_record, instead of going to Redis."""
    calls = []
    monkeypatch.setattr(
        queue, "deliveries_enqueue", lambda ids, **kw: calls.append((list(ids), kw))
    )
    return calls


def outcome_of(delivery, response):
    attempt = attempt_build(delivery, delivery.webhook.payload_url, [], response, NOW)
    return delivery, attempt, decide(delivery, response, now=NOW)


OK = SendResult(status_code=200)


FAIL = SendResult(status_code=503)


@time_machine.travel(NOW, tick=False)
def test_outcomes_are_written_for_the_claim_that_holds(enqueued):
    deliveries = due(2)
    token, claimed = deliveries_claim([d.id for d in deliveries])

    updated = outcomes_record(token, [outcome_of(claimed[0], OK), outcome_of(claimed[1], FAIL)])

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

    updated = outcomes_record(old_token, [outcome_of(old_claim[0], OK)])

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

    updated = outcomes_record(token, [outcome_of(d, OK) for d in claimed])

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
        outcomes_record(token, [outcome_of(d, OK) for d in claimed])

    statements = [q["sql"].split()[0] for q in queries]
    # (The test's own transaction turns BEGIN/COMMIT into a savepoint: the
    # only one. PostgreSQL takes the attempts with COPY, SQLite an INSERT.)
    insert = "COPY" if connection.vendor == "postgresql" else "INSERT"
    writes = [s for s in statements if s in ("SELECT", "UPDATE", "INSERT", "COPY")]
    assert writes == ["UPDATE", insert]
    assert statements.count("SAVEPOINT") == 1
    assert DeliveryAttempt.objects.count() == 5
