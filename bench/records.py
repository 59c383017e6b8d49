"""What the database recorded of a phase's deliveries (the receiver sees a
request before the worker records its outcome), and tidying it between phases
(or, for the isolation benchmark, emptying it between scenarios)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass
class DbState:
    by_status: dict[str, int]
    attempts: int
    done_at: float  # time.time() when this state was read

    @property
    def succeeded(self) -> int:
        return self.by_status.get("succeeded", 0)


def wait_db_settled(phase: str, expected: int, stall_timeout: float) -> DbState:
    """Wait until the database records all of a phase's deliveries as
    succeeded, or nothing changed for `stall_timeout`."""
    from django.db.models import Count

    from deliveries.models import Delivery

    last, last_change = None, time.monotonic()
    while True:
        rows = (
            Delivery.objects.filter(event__resource_type=phase)
            .values_list("status")
            .annotate(n=Count("id"))
        )
        by_status = dict(rows)
        if by_status.get("succeeded", 0) >= expected:
            break
        if by_status != last:
            last, last_change = by_status, time.monotonic()
        if time.monotonic() - last_change > stall_timeout:
            break
        time.sleep(0.25)
    done_at = time.time()
    return DbState(by_status, attempts_recorded(phase), done_at)


def attempts_recorded(phase: str) -> int:
    from deliveries.models import DeliveryAttempt

    return DeliveryAttempt.objects.filter(delivery__event__resource_type=phase).count()


def statuses_by_webhook(phase: str) -> dict[tuple[Any, str], int]:
    """How many of a phase's deliveries each webhook has, per status."""
    from django.db.models import Count

    from deliveries.models import Delivery

    rows = (
        Delivery.objects.filter(event__resource_type=phase)
        .values_list("webhook_id", "status")
        .annotate(n=Count("id"))
    )
    return {(webhook_id, status): n for webhook_id, status, n in rows}


def vacuum_analyze() -> float:
    """VACUUM ANALYZE the delivery tables; returns the seconds it took.

    Run between the phases: otherwise autovacuum, woken by the throughput
    phase's tens of thousands of updates, shares the two cores with the
    latency phase and the percentiles measure it rather than the pipeline.
    """
    from django.db import connection

    from deliveries.models import Delivery, DeliveryAttempt, Event

    started = time.monotonic()
    tables = [m._meta.db_table for m in (Event, Delivery, DeliveryAttempt)]
    with connection.cursor() as cursor:  # autocommit: VACUUM refuses a transaction
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
    return time.monotonic() - started


def empty_tables() -> None:
    """Events, deliveries, attempts and webhooks gone: what comes next starts clean."""
    from django.db import connection

    from deliveries.models import Delivery, DeliveryAttempt, Event
    from hooks.models import Webhook

    tables = [m._meta.db_table for m in (DeliveryAttempt, Delivery, Event, Webhook)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
