"""The dashboard's figures (deliveries.overview): the backlog and the last
24 h by hour, each count capped."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deliveries import overview
from deliveries.models import Delivery, DeliveryStatus
from tests.factories import DeliveryFactory, WebhookFactory


def made(webhook, status, *, created_at, next_attempt_at=None):
    delivery = DeliveryFactory(webhook=webhook, status=status, next_attempt_at=next_attempt_at)
    Delivery.objects.filter(pk=delivery.pk).update(created_at=created_at)
    return delivery


def test_the_backlog_counts_pending_deliveries_due_now_of_enabled_webhooks(db):
    now = timezone.now()
    hook, off = WebhookFactory(), WebhookFactory(enabled=False)
    made(
        hook, DeliveryStatus.PENDING, created_at=now, next_attempt_at=now - dt.timedelta(minutes=7)
    )
    made(
        hook, DeliveryStatus.PENDING, created_at=now, next_attempt_at=now - dt.timedelta(minutes=1)
    )
    made(
        hook, DeliveryStatus.PENDING, created_at=now, next_attempt_at=now + dt.timedelta(minutes=5)
    )
    made(off, DeliveryStatus.PENDING, created_at=now, next_attempt_at=now - dt.timedelta(hours=3))
    made(hook, DeliveryStatus.FAILED, created_at=now)

    backlog = overview.backlog(now=now)

    assert backlog.due == 2 and not backlog.capped
    assert backlog.oldest_age(now) == dt.timedelta(minutes=7)


def test_an_empty_backlog_has_no_oldest(db):
    backlog = overview.backlog(now=timezone.now())
    assert (backlog.due, backlog.oldest_due_at) == (0, None)


def test_the_backlog_count_stops_at_its_cap(db, monkeypatch):
    monkeypatch.setattr(overview, "BACKLOG_CAP", 2)
    now = timezone.now()
    hook = WebhookFactory()
    for _ in range(5):
        made(hook, DeliveryStatus.PENDING, created_at=now, next_attempt_at=now)
    backlog = overview.backlog(now=now)
    assert backlog.due == 3 and backlog.capped  # CAP + 1: "more than 2"


def test_traffic_counts_each_hour_by_outcome_oldest_first(db):
    now = timezone.now().replace(minute=30)
    hook = WebhookFactory()
    made(hook, DeliveryStatus.SUCCEEDED, created_at=now)
    made(hook, DeliveryStatus.FAILED, created_at=now)
    made(hook, DeliveryStatus.SENDING, created_at=now)
    made(hook, DeliveryStatus.SUCCEEDED, created_at=now - dt.timedelta(hours=2))
    made(hook, DeliveryStatus.SUCCEEDED, created_at=now - dt.timedelta(hours=30))  # too old

    day = overview.traffic(now=now)

    assert len(day.hours) == 24
    assert day.hours[-1].start == now.replace(minute=0, second=0, microsecond=0)
    last = day.hours[-1]
    assert (last.succeeded, last.failed, last.unfinished) == (1, 1, 1)
    assert day.hours[-3].succeeded == 1
    assert (day.succeeded, day.failed, day.unfinished, day.total) == (2, 1, 1, 4)
    assert day.success_rate == 2 / 3 and not day.capped


def test_traffic_is_a_fixed_number_of_capped_counts(db, monkeypatch):
    monkeypatch.setattr(overview, "HOURLY_CAP", 1)
    now = timezone.now()
    hook = WebhookFactory()
    for _ in range(3):
        made(hook, DeliveryStatus.SUCCEEDED, created_at=now)
    with CaptureQueriesContext(connection) as queries:
        day = overview.traffic(now=now)
    assert day.hours[-1].succeeded == 2 and day.capped  # stopped at CAP + 1
    assert len(queries) == 24 * 3
    assert all("LIMIT" in q["sql"].upper() for q in queries)


def test_no_finished_delivery_has_no_success_rate(db):
    assert overview.traffic(now=timezone.now()).success_rate is None
