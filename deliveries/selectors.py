"""Reads for the operations console: webhook health and activity over time.

Each figure is computed from the delivery rows of a recent window, through
the (webhook, -created_at) index, so a page of webhooks costs a few index
range scans per row, however big the delivery table grows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import (
    Avg,
    Count,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, TruncHour

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

    @staticmethod
    def q(health: str) -> Q:
        """The same rule as `of`, as a filter on `webhooks_with_health` rows."""
        finished = F("h_succeeded") + F("h_failed")
        if health == Health.IDLE:
            return Q(h_finished=0)
        if health == Health.HEALTHY:
            return Q(h_finished__gt=0, h_rate__gte=95 * finished)
        if health == Health.DEGRADED:
            return Q(h_finished__gt=0, h_rate__gte=50 * finished, h_rate__lt=95 * finished)
        if health == Health.FAILING:
            return Q(h_finished__gt=0, h_rate__lt=50 * finished)
        raise ValueError(f"unknown health {health!r}")


def _count(deliveries: QuerySet[Delivery]) -> Coalesce:
    counted = deliveries.order_by().values("webhook").annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def webhooks_with_health(
    webhooks: QuerySet[Webhook], *, now: dt.datetime, window: dt.timedelta = HEALTH_WINDOW
) -> QuerySet[Webhook]:
    """Annotate each webhook with its deliveries of the window (h_total,
    h_succeeded, h_failed) and its last finished delivery (h_last_status,
    h_last_at)."""
    recent = Delivery.objects.filter(webhook=OuterRef("pk"), created_at__gte=now - window)
    last = Delivery.objects.filter(
        webhook=OuterRef("pk"), status__in=[DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED]
    ).order_by("-created_at")
    return webhooks.annotate(
        h_total=_count(recent),
        h_succeeded=_count(recent.filter(status=DeliveryStatus.SUCCEEDED)),
        h_failed=_count(recent.filter(status=DeliveryStatus.FAILED)),
        h_last_status=Subquery(last.values("status")[:1]),
        h_last_at=Subquery(last.values("finished_at")[:1]),
    ).annotate(h_finished=F("h_succeeded") + F("h_failed"), h_rate=F("h_succeeded") * 100)


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
