"""Purging old delivery records in bounded batches."""

import datetime as dt

import pytest
from django.utils import timezone

from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from deliveries.purge import deliveries_purge
from tests.factories import DeliveryAttemptFactory, DeliveryFactory, EventFactory, WebhookFactory

pytestmark = pytest.mark.django_db

SUCCEEDED, FAILED = DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED
PENDING, SENDING = DeliveryStatus.PENDING, DeliveryStatus.SENDING


@pytest.fixture
def now():
    return timezone.now()


def aged(instance, age: dt.timedelta, now: dt.datetime):
    """Backdate created_at (auto_now_add ignores what a factory passes)."""
    type(instance).objects.filter(pk=instance.pk).update(created_at=now - age)
    instance.refresh_from_db()
    return instance


def delivery(now, *, age, status=SUCCEEDED, **kwargs):
    return aged(DeliveryFactory(status=status, **kwargs), age, now)


def hours(n):
    return dt.timedelta(hours=n)


def days(n):
    return dt.timedelta(days=n)


def remaining():
    return set(Delivery.objects.values_list("id", flat=True))


# --- what goes, what stays ------------------------------------------------------------------


def test_keeps_exactly_the_newest_n_finished_per_webhook(now):
    # given five finished deliveries of one webhook and two of another
    busy, quiet = WebhookFactory(), WebhookFactory()
    busy_ones = [
        delivery(now, age=hours(n), webhook=busy, status=SUCCEEDED if n % 2 else FAILED)
        for n in range(1, 6)
    ]
    quiet_ones = [delivery(now, age=hours(n), webhook=quiet) for n in (10, 20)]

    # when
    result = deliveries_purge(now=now, keep=3, max_age_days=30)

    # then the busy webhook keeps its 3 newest, the quiet one both
    assert result.deliveries == 2
    assert remaining() == {d.id for d in busy_ones[:3] + quiet_ones}
    assert result.more is False


def test_deletes_finished_deliveries_older_than_the_maximum_age(now):
    webhook = WebhookFactory()
    old = [
        delivery(now, age=days(8), webhook=webhook, status=SUCCEEDED),
        delivery(now, age=days(40), webhook=webhook, status=FAILED),
    ]
    young = delivery(now, age=days(6), webhook=webhook)

    result = deliveries_purge(now=now, keep=100, max_age_days=7)

    assert result.deliveries == len(old)
    assert remaining() == {young.id}


def test_zero_means_no_limit(now):
    webhook = WebhookFactory()
    kept = [delivery(now, age=days(n * 100), webhook=webhook) for n in range(1, 4)]

    result = deliveries_purge(now=now, keep=0, max_age_days=0)

    assert result.deliveries == 0
    assert remaining() == {d.id for d in kept}


def test_never_deletes_pending_or_sending_deliveries_however_old(now):
    # given work in progress from a year ago, among old finished history
    webhook = WebhookFactory()
    work = [
        delivery(now, age=days(365), webhook=webhook, status=PENDING),
        delivery(now, age=days(365), webhook=webhook, status=SENDING),
        delivery(now, age=days(400), webhook=webhook, status=PENDING),
    ]
    history = [delivery(now, age=days(n), webhook=webhook) for n in (2, 3)]

    # when a purge that keeps one and nothing older than a day
    result = deliveries_purge(now=now, keep=1, max_age_days=1)

    # then
    assert result.deliveries == len(history)
    assert remaining() == {d.id for d in work}


def test_work_in_progress_does_not_count_towards_the_newest_n(now):
    # pending deliveries are not history: the newest finished one is still kept
    webhook = WebhookFactory()
    newer_work = [delivery(now, age=hours(1), webhook=webhook, status=PENDING) for _ in range(3)]
    finished = delivery(now, age=hours(5), webhook=webhook)

    deliveries_purge(now=now, keep=1, max_age_days=30)

    assert remaining() == {d.id for d in [*newer_work, finished]}


def test_deletes_the_attempts_of_what_it_deletes(now):
    # given
    old = delivery(now, age=days(40))
    young = delivery(now, age=days(1))
    DeliveryAttemptFactory.create_batch(3, delivery=old)
    young_attempts = DeliveryAttemptFactory.create_batch(2, delivery=young)

    # when
    deliveries_purge(now=now, keep=10, max_age_days=30)

    # then
    assert not DeliveryAttempt.objects.filter(delivery_id=old.id).exists()
    assert set(DeliveryAttempt.objects.values_list("id", flat=True)) == {
        a.id for a in young_attempts
    }


def test_deletes_old_orphaned_events_only(now):
    # given an event left with no delivery two hours ago, one just now, one still delivering
    old_orphan = aged(EventFactory(), hours(2), now)
    fresh_orphan = aged(EventFactory(), dt.timedelta(minutes=10), now)
    old_with_work = delivery(now, age=days(2), status=PENDING).event
    aged(old_with_work, days(2), now)

    # when
    result = deliveries_purge(now=now, keep=10, max_age_days=30)

    # then
    assert result.events == 1
    assert set(Event.objects.values_list("id", flat=True)) == {fresh_orphan.id, old_with_work.id}
    assert not Event.objects.filter(id=old_orphan.id).exists()


def test_an_event_whose_last_delivery_is_purged_goes_with_it(now):
    # given an old event with one old finished delivery and one recent event
    old = delivery(now, age=days(40))
    aged(old.event, days(40), now)
    recent = delivery(now, age=days(1))

    # when
    result = deliveries_purge(now=now, keep=10, max_age_days=30)

    # then
    assert (result.deliveries, result.events) == (1, 1)
    assert list(Event.objects.values_list("id", flat=True)) == [recent.event_id]


def test_an_event_keeps_its_other_deliveries(now):
    # given one event delivered to two webhooks, one delivery old, one still pending
    event = aged(EventFactory(), days(40), now)
    old = delivery(now, age=days(40), event=event)
    pending = delivery(now, age=days(40), event=event, status=PENDING)

    deliveries_purge(now=now, keep=10, max_age_days=30)

    assert remaining() == {pending.id}
    assert Event.objects.filter(id=event.id).exists()
    assert not Delivery.objects.filter(id=old.id).exists()


# --- bounded batches ---------------------------------------------------------------------------


def test_stops_after_max_batches_and_says_there_is_more(now):
    # given five deliveries past the maximum age
    webhook = WebhookFactory()
    for n in range(5):
        delivery(now, age=days(40 + n), webhook=webhook)

    # when two batches of two are allowed
    first = deliveries_purge(now=now, keep=0, max_age_days=30, batch_size=2, max_batches=2)

    # then it stopped with one left
    assert (first.deliveries, first.more) == (4, True)
    assert Delivery.objects.count() == 1

    # when it runs again, then it finishes
    second = deliveries_purge(now=now, keep=0, max_age_days=30, batch_size=2, max_batches=2)

    assert (second.deliveries, second.more) == (1, False)
    assert not Delivery.objects.exists()


def test_batches_are_shared_between_age_count_and_orphans(now):
    # given two too-old deliveries, two beyond the newest one, and old orphan events
    webhook = WebhookFactory()
    for n in range(2):
        delivery(now, age=days(40 + n), webhook=webhook)
    newest = delivery(now, age=hours(1), webhook=webhook)
    for n in range(2):
        delivery(now, age=hours(2 + n), webhook=webhook)
    orphans = [aged(EventFactory(), hours(3), now) for _ in range(2)]

    # when one batch of two is allowed per call, then each call does one batch
    runs = []
    while True:
        result = deliveries_purge(now=now, keep=1, max_age_days=30, batch_size=2, max_batches=1)
        runs.append((result.deliveries, result.events))
        if not result.more:
            break
        assert len(runs) < 10

    # and the call that finishes the work says there is no more (no idle run)
    assert runs == [(2, 0), (2, 0), (0, 2)]
    assert remaining() == {newest.id}
    assert not Event.objects.filter(id__in=[e.id for e in orphans]).exists()
