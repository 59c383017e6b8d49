"""Reads for the console's dashboard: the whole platform at a glance.

The delivery table holds millions of rows, so every figure here is bounded:
counted over `LIMIT cap` (`SELECT COUNT(*) FROM (… LIMIT cap+1)`) through an
index, never a `COUNT(*)` of a table or of a whole day. A figure that reaches
its cap is shown as "more than", which is all an operator needs to know.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from deliveries.models import Delivery, DeliveryStatus

BACKLOG_CAP = 10_000
# Per hour and outcome: 24 hours x 3 outcomes, each a bounded index range scan.
HOURLY_CAP = 10_000


@dataclass(frozen=True)
class Backlog:
    """Pending deliveries whose time has come, of enabled webhooks: the rule
    of the `webhooks_deliveries_due` metric (deliveries/gauges.py), so the
    dashboard and the alert agree. A disabled webhook's deliveries wait, due,
    until it is enabled, and would look like a backlog for ever; a circuit's
    held ones are due only at their probe. The sweeper's `delivery_pending_due`
    partial index answers both figures."""

    due: int  # counted up to BACKLOG_CAP + 1
    oldest_due_at: dt.datetime | None

    @property
    def capped(self) -> bool:
        return self.due > BACKLOG_CAP

    def oldest_age(self, now: dt.datetime) -> dt.timedelta | None:
        return None if self.oldest_due_at is None else now - self.oldest_due_at


def backlog(*, now: dt.datetime) -> Backlog:
    due = Delivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=now, webhook__enabled=True
    )
    count = due.order_by().values("pk")[: BACKLOG_CAP + 1].count()
    # The first entry of the index, not MIN() over a join.
    oldest = (
        due.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
        if count
        else None
    )
    return Backlog(due=count, oldest_due_at=oldest)


@dataclass(frozen=True)
class HourCounts:
    """Deliveries created in one hour, by outcome so far; each count capped
    at HOURLY_CAP + 1."""

    start: dt.datetime
    succeeded: int = 0
    failed: int = 0
    unfinished: int = 0  # pending or being sent

    @property
    def capped(self) -> bool:
        return max(self.succeeded, self.failed, self.unfinished) > HOURLY_CAP


@dataclass(frozen=True)
class Traffic:
    hours: list[HourCounts]

    @property
    def succeeded(self) -> int:
        return sum(h.succeeded for h in self.hours)

    @property
    def failed(self) -> int:
        return sum(h.failed for h in self.hours)

    @property
    def unfinished(self) -> int:
        return sum(h.unfinished for h in self.hours)

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.unfinished

    @property
    def capped(self) -> bool:
        return any(h.capped for h in self.hours)

    @property
    def success_rate(self) -> float | None:
        """The share of finished deliveries that succeeded (None: none finished)."""
        finished = self.succeeded + self.failed
        return self.succeeded / finished if finished else None


OUTCOMES = {
    "succeeded": [DeliveryStatus.SUCCEEDED],
    "failed": [DeliveryStatus.FAILED],
    "unfinished": [DeliveryStatus.PENDING, DeliveryStatus.SENDING],
}


def traffic(*, now: dt.datetime, hours: int = 24) -> Traffic:
    """Deliveries per hour they were created, by outcome, the last `hours`
    hours oldest first (the current hour last, partial).

    One capped count per hour and outcome, each a range scan of the
    (status, -created_at) index: a busy hour costs what the cap does, and
    the whole dashboard at most hours x 3 x HOURLY_CAP index entries, however
    many deliveries the day had. (A GROUP BY over the day would read them all.)
    """
    end = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    result = []
    for i in range(hours, 0, -1):
        start = end - dt.timedelta(hours=i)
        window = Delivery.objects.filter(
            created_at__gte=start, created_at__lt=start + dt.timedelta(hours=1)
        ).order_by()
        counts = {
            name: window.filter(status__in=statuses)[: HOURLY_CAP + 1].count()
            for name, statuses in OUTCOMES.items()
        }
        result.append(HourCounts(start=start, **counts))
    return Traffic(hours=result)
