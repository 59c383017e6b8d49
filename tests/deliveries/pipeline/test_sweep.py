"""The sweeper alone (no worker, no Redis): expired claims become a recorded
lost attempt and a retry decision; due deliveries with no message in flight
are queued again, once; everything else is left alone."""

import datetime as dt
import uuid

import pytest
import time_machine

from deliveries import queue
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from deliveries.pipeline.sweep import deliveries_sweep
from tests.factories import DeliveryFactory, WebhookFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def enqueued(monkeypatch):
    """What the sweeper queues, instead of sending it to Redis."""
    calls = []
    monkeypatch.setattr(
        queue, "deliveries_enqueue", lambda ids, **kw: calls.append((sorted(ids), kw))
    )
    return calls


@pytest.fixture(autouse=True)
def timings(settings):
    settings.WEBHOOK_LEASE_SECONDS = 60
    settings.WEBHOOK_SWEEP_GRACE = 5
    settings.WEBHOOK_REQUEUE_AFTER = 300
    settings.WEBHOOK_SWEEP_LIMIT = 100
    settings.WEBHOOK_RETRY_SCHEDULE = [10, 20]
    settings.WEBHOOK_RETRY_JITTER = 0
    settings.WEBHOOK_MAX_ATTEMPTS = 3


def sending(*, attempts: int, lease_expires_at: dt.datetime) -> Delivery:
    return DeliveryFactory(
        status=DeliveryStatus.SENDING,
        attempts=attempts,
        claim_token=uuid.uuid4(),
        lease_expires_at=lease_expires_at,
        next_attempt_at=lease_expires_at - 60 * SECOND,
        message_due_at=None,
    )


@time_machine.travel(NOW, tick=False)
def test_an_expired_claim_is_recorded_as_a_lost_attempt_and_retried(enqueued):
    # given a delivery whose worker died mid-attempt 1
    lost = sending(attempts=1, lease_expires_at=NOW - SECOND)

    # when
    result = deliveries_sweep()

    # then the attempt is history, with the time the claim began
    assert (result.expired, result.requeued) == (1, 0)
    attempt = DeliveryAttempt.objects.get(delivery=lost)
    assert attempt.number == 1
    assert attempt.error_class == "WorkerLost"
    assert "may or may not have the request" in attempt.error_message
    assert attempt.started_at == NOW - SECOND - 60 * SECOND
    assert attempt.url == lost.webhook.payload_url
    # and the retry policy decides: pending again in 10 s, the claim released
    lost.refresh_from_db()
    assert lost.status == DeliveryStatus.PENDING
    assert lost.next_attempt_at == NOW + 10 * SECOND
    assert (lost.claim_token, lost.lease_expires_at) == (None, None)
    assert lost.last_error.startswith("WorkerLost: ")
    # a near retry rides in Redis with its countdown
    assert enqueued == [([lost.id], {"countdown": 10})]


@time_machine.travel(NOW, tick=False)
def test_an_expired_claim_on_the_last_attempt_ends_failed(enqueued):
    lost = sending(attempts=3, lease_expires_at=NOW - SECOND)

    deliveries_sweep()

    lost.refresh_from_db()
    assert lost.status == DeliveryStatus.FAILED
    assert lost.finished_at == NOW
    assert DeliveryAttempt.objects.filter(delivery=lost, error_class="WorkerLost").count() == 1
    assert enqueued == []


@time_machine.travel(NOW, tick=False)
def test_a_claim_still_within_its_lease_is_left_alone(enqueued):
    busy = sending(attempts=1, lease_expires_at=NOW + SECOND)

    result = deliveries_sweep()

    assert (result.expired, result.requeued) == (0, 0)
    busy.refresh_from_db()
    assert busy.status == DeliveryStatus.SENDING
    assert not DeliveryAttempt.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_due_deliveries_without_a_message_are_queued_and_marked(enqueued):
    # given: a lost enqueue (no message), and one whose message is long overdue
    no_message = DeliveryFactory(next_attempt_at=NOW - 10 * SECOND, message_due_at=None)
    overdue = DeliveryFactory(next_attempt_at=NOW - 10 * SECOND, message_due_at=NOW - 301 * SECOND)

    # when
    result = deliveries_sweep()

    # then both are queued in one message and marked as having one in flight
    assert result.requeued == 2
    assert enqueued == [(sorted([no_message.id, overdue.id]), {})]
    for delivery in (no_message, overdue):
        delivery.refresh_from_db()
        assert delivery.message_due_at == NOW

    # and a second sweep right after does not queue them again
    enqueued.clear()
    assert deliveries_sweep().requeued == 0
    assert enqueued == []


@time_machine.travel(NOW, tick=False)
def test_what_has_a_message_or_is_not_due_or_is_finished_is_not_queued(enqueued):
    webhook = WebhookFactory()
    # a message was queued recently: it will come
    DeliveryFactory(webhook=webhook, next_attempt_at=NOW - 10 * SECOND, message_due_at=NOW)
    # due only within the grace period: its own message is probably on its way
    DeliveryFactory(webhook=webhook, next_attempt_at=NOW - 4 * SECOND, message_due_at=None)
    # not due yet
    DeliveryFactory(webhook=webhook, next_attempt_at=NOW + 60 * SECOND, message_due_at=None)
    # finished
    for status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED):
        DeliveryFactory(
            webhook=webhook, status=status, next_attempt_at=NOW - 60 * SECOND, message_due_at=None
        )

    assert deliveries_sweep().requeued == 0
    assert enqueued == []


@time_machine.travel(NOW, tick=False)
def test_the_sweep_takes_at_most_its_limit_oldest_first(settings, enqueued):
    settings.WEBHOOK_SWEEP_LIMIT = 2
    ages = [50, 40, 30]
    rows = [
        DeliveryFactory(next_attempt_at=NOW - age * SECOND, message_due_at=None) for age in ages
    ]

    assert deliveries_sweep().requeued == 2
    assert enqueued == [(sorted([rows[0].id, rows[1].id]), {})]
    # the rest on the next run
    enqueued.clear()
    assert deliveries_sweep().requeued == 1
    assert enqueued == [([rows[2].id], {})]
