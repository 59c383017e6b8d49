"""Alarm repeats (Tencent Cloud's continuousAlarm with alarmNotifyPeriod).

An event may name an incident (`incident_key`, unique within its account and
domain) and say it is `firing` or `resolved`. A webhook with `repeat_every`
gets the latest firing event of an incident again, every that many seconds,
at most `repeat_max` times, until a newer event of the same incident is
published; the resolving event is delivered as any event is.

Each repeat is a delivery of its own (`Delivery.repeat` = 1, 2, ...: its own
attempts, retries and session id), created pending and due in the future
when the one before it finishes, in the same transaction that records that
finish: the chain lives in the database, survives restarts, and is sent by
the usual pipeline (a countdown message when near, else the sweeper). So
there is never more than one repeat waiting per incident and webhook.

A newer event of the incident ends the chains of the older ones at once
(`repeats_stop`, in its publish transaction): the repeats not yet sent are
deleted (or, mid-retry, failed with the reason), and a finish recorded
later finds the older event superseded and schedules nothing. Both sides
take the incident's lock (PostgreSQL: an advisory lock; SQLite has one
writer at a time), so a finish and a publish racing each other cannot
leave a repeat behind.

Events without an incident key never reach this module: publishing tests
one string, recording one integer of the webhook.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import connections
from django.db.models import QuerySet

from deliveries.models import Delivery, DeliveryStatus, Event, IncidentState
from deliveries.pipeline.outcome import Outcome


def _lock_key(event: Event) -> int:
    name = f"incident/{event.account_id}/{event.domain_id}/{event.incident_key}"
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


def incident_lock(*events: Event) -> None:
    """Hold these events' incident locks until the transaction ends
    (PostgreSQL), taken in one order, so that two batches locking the same
    incidents never deadlock.

    SQLite needs none: its writers are serialised, and both callers have
    written before they read."""
    connection = connections[Event.objects.db]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for key in sorted({_lock_key(e) for e in events}):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def incident_events(event: Event) -> QuerySet[Event]:
    """The events of the same incident (the partial index event_incident)."""
    same = {"account_id": event.account_id, "domain_id": event.domain_id}  # None: IS NULL
    return Event.objects.filter(incident_key=event.incident_key, **same)


def repeats_stop(event: Event, *, now: dt.datetime) -> int:
    """End the repeats of this incident's earlier events (in the publish
    transaction of `event`, which has an incident key). Returns how many
    repeats were stopped."""
    incident_lock(event)
    earlier = incident_events(event).exclude(id=event.id).values("id")
    waiting = Delivery.objects.filter(
        event_id__in=earlier, repeat__gt=0, status=DeliveryStatus.PENDING
    )
    # Never sent: as if never scheduled. Mid-retry: kept, with the reason,
    # so its attempts stay on record.
    deleted, _ = waiting.filter(attempts=0).delete()
    failed = waiting.update(
        status=DeliveryStatus.FAILED,
        next_attempt_at=None,
        finished_at=now,
        message_due_at=None,
        last_error=f"repeat stopped: the incident has a newer event ({event.id}, "
        f"{event.incident_state or 'no state'})",
    )
    return deleted + failed


def _chains(results: Iterable[tuple[Delivery, Outcome]]) -> list[Delivery]:
    """The finished deliveries that may call for a repeat: a firing alarm to a
    webhook that wants repeats and has some left. No query."""
    return [
        delivery
        for delivery, outcome in results
        if delivery.webhook.repeat_every
        and outcome.finished_at is not None
        and delivery.event.incident_state == IncidentState.FIRING
        and delivery.webhook.enabled
        and delivery.repeat < delivery.webhook.effective_repeat_max
    ]


def repeats_schedule(
    results: Iterable[tuple[Delivery, Outcome]], *, now: dt.datetime
) -> list[tuple[uuid.UUID, float | None]]:
    """Create the next repeat of each finished firing alarm whose event is
    still the latest of its incident (inside outcomes_record's transaction,
    after the deliveries' rows were written). Returns (id, countdown) of
    each: a countdown when near enough to ride in Redis, else None (the
    sweeper queues it when due)."""
    candidates = _chains(results)
    if not candidates:
        return []
    incident_lock(*(d.event for d in candidates))
    created, due = [], []
    for delivery in candidates:
        event = delivery.event
        # Superseded: resolved, or firing again (with its own chain). Two
        # events of one incident stored in the same microsecond supersede
        # each other: neither is repeated, rather than both.
        others = incident_events(event).exclude(id=event.id)
        if others.filter(created_at__gte=event.created_at).exists():
            continue
        every = float(delivery.webhook.repeat_every or 0)
        at = now + dt.timedelta(seconds=every)
        near = every <= settings.WEBHOOK_ETA_MAX
        repeat = Delivery(
            event_id=delivery.event_id,
            webhook_id=delivery.webhook_id,
            repeat=delivery.repeat + 1,
            next_attempt_at=at,
            message_due_at=at if near else None,
        )
        created.append(repeat)
        due.append((repeat.id, every if near else None))
    # A repeat that exists already (an operator redelivered an earlier link
    # of the chain) is left as it is.
    Delivery.objects.bulk_create(created, ignore_conflicts=True)
    return due
