"""Reads for the operations console: webhook health and activity over time.

Each figure is computed from the delivery rows of a recent window through
the (webhook, created_at, status) index, so it costs what the window holds,
however big the delivery table grows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypedDict

from django.db.models import Avg, Count, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncHour

from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from hooks.models import Webhook

HEALTH_WINDOW = dt.timedelta(hours=24)


class Health:
    """A webhook's health over the window, from its finished deliveries:
    healthy at 95 % success or more, failing below 50 %, idle with none."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"
    IDLE = "idle"
    CHOICES = [
        (HEALTHY, "Healthy (≥ 95 % succeeded)"),
        (DEGRADED, "Degraded (50 to 95 %)"),
        (FAILING, "Failing (< 50 %)"),
        (IDLE, "No finished deliveries"),
    ]

    @staticmethod
    def of(succeeded: int, failed: int) -> str:
        finished = succeeded + failed
        if not finished:
            return Health.IDLE
        if succeeded * 100 >= 95 * finished:
            return Health.HEALTHY
        if succeeded * 100 >= 50 * finished:
            return Health.DEGRADED
        return Health.FAILING


@dataclass(frozen=True)
class WindowCounts:
    """A webhook's deliveries created in the window."""

    total: int = 0
    succeeded: int = 0
    failed: int = 0

    @property
    def health(self) -> str:
        return Health.of(self.succeeded, self.failed)


def webhook_health(
    webhook_ids: Iterable[uuid.UUID] | QuerySet | None,
    *,
    now: dt.datetime,
    window: dt.timedelta = HEALTH_WINDOW,
) -> dict[uuid.UUID, WindowCounts]:
    """Counts of the window per webhook, in one grouped query (these webhooks,
    given as ids or a queryset of pks, or every webhook when None). A webhook with
    no delivery in the window is absent: its counts are WindowCounts().

    One GROUP BY over the window's rows, answered from the (webhook,
    created_at, status) index, instead of three correlated counts per webhook.
    """
    rows = Delivery.objects.filter(created_at__gte=now - window)
    if isinstance(webhook_ids, QuerySet):
        rows = rows.filter(webhook_id__in=webhook_ids)  # a subquery
    elif webhook_ids is not None:
        rows = rows.filter(webhook_id__in=list(webhook_ids))
    grouped = (
        rows.order_by()
        .values("webhook_id")
        .annotate(
            total=Count("pk"),
            succeeded=Count("pk", filter=Q(status=DeliveryStatus.SUCCEEDED)),
            failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
        )
    )
    return {
        row["webhook_id"]: WindowCounts(row["total"], row["succeeded"], row["failed"])
        for row in grouped
    }


def webhooks_in_health(
    webhooks: QuerySet[Webhook], health: str, *, now: dt.datetime
) -> QuerySet[Webhook]:
    """These webhooks, narrowed to those whose health over the window is `health`."""
    counts = webhook_health(webhooks.values("pk"), now=now)
    if health == Health.IDLE:
        busy = [pk for pk, c in counts.items() if c.health != Health.IDLE]
        return webhooks.exclude(pk__in=busy)
    return webhooks.filter(pk__in=[pk for pk, c in counts.items() if c.health == health])


class LastOutcome(TypedDict):
    """What webhooks_with_last_outcome annotates each webhook with."""

    h_last_status: str | None
    h_last_at: dt.datetime | None


def webhooks_with_last_outcome(webhooks: QuerySet[Webhook]) -> QuerySet[Webhook]:
    """Annotate each webhook with its newest finished delivery's status and
    time (h_last_status, h_last_at): a walk down its newest-first index."""
    last = Delivery.objects.filter(
        webhook=OuterRef("pk"), status__in=[DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED]
    ).order_by("-created_at")
    return webhooks.annotate(
        h_last_status=Subquery(last.values("status")[:1]),
        h_last_at=Subquery(last.values("finished_at")[:1]),
    )


@dataclass(frozen=True)
class Bucket:
    """One hour of a webhook's activity."""

    start: dt.datetime
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    avg_ms: float | None = None
    max_ms: int | None = None


def webhook_activity(webhook: Webhook, *, now: dt.datetime, hours: int = 24) -> list[Bucket]:
    """Deliveries by outcome (by the hour they were created) and attempt
    durations (by the hour they started), for the last `hours` hours, oldest
    first, one bucket per hour even when nothing happened."""
    end = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    start = end - dt.timedelta(hours=hours)
    outcomes = (
        Delivery.objects.filter(webhook=webhook, created_at__gte=start)
        .annotate(hour=TruncHour("created_at"))
        .values("hour")
        .annotate(
            succeeded=Count("pk", filter=Q(status=DeliveryStatus.SUCCEEDED)),
            failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
            pending=Count(
                "pk", filter=Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING])
            ),
        )
        .order_by()
    )
    timings = (
        DeliveryAttempt.objects.filter(delivery__webhook=webhook, started_at__gte=start)
        .annotate(hour=TruncHour("started_at"))
        .values("hour")
        .annotate(avg_ms=Avg("duration_ms"), max_ms=Max("duration_ms"))
        .order_by()
    )
    by_hour: dict[dt.datetime, dict] = {}
    for row in outcomes:
        by_hour.setdefault(row.pop("hour"), {}).update(row)
    for row in timings:
        by_hour.setdefault(row.pop("hour"), {}).update(row)
    return [
        Bucket(start=hour, **by_hour.get(hour, {}))
        for hour in (start + dt.timedelta(hours=i) for i in range(hours))
    ]


HELD_COUNT_CAP = 10_000


def webhook_held_count(webhook: Webhook, *, now: dt.datetime) -> int:
    """How many of a webhook's deliveries are held: pending while it may not
    be sent to (disabled, circuit open, throttled). Counted up to
    HELD_COUNT_CAP (`COUNT(*)` over `LIMIT cap`, on the webhook's index), so
    a month of backlog costs what the cap does; none at all for a webhook
    that is not held."""
    if not webhook.is_held(now=now):
        return 0
    pending = Delivery.objects.filter(webhook=webhook, status=DeliveryStatus.PENDING)
    return pending[:HELD_COUNT_CAP].count()
