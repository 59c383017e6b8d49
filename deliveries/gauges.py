"""Gauges computed when Prometheus scrapes, never on the hot path.

The backlog and liveness are read from the database, a few bounded queries
per scrape: counts stop at METRICS_BACKLOG_CAP (a count that reaches it means
"at least"), the pending ones from the partial index of pending deliveries,
and per-webhook series exist only for the METRICS_TOP_WEBHOOKS worst
unhealthy webhooks, so their number stays bounded however many there are.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, QuerySet
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from deliveries import liveness
from deliveries.models import Delivery, DeliveryStatus
from hooks.health import HEALTH_ORDER, Circuit, Health, health_q
from hooks.models import Webhook

log = logging.getLogger(__name__)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _capped_count(queryset: QuerySet) -> int:
    # COUNT over a LIMITed subquery: the work stops at the cap.
    return queryset.values("pk")[: settings.METRICS_BACKLOG_CAP].count()


def backlog_metrics(now: dt.datetime) -> Iterator[Metric]:
    # Due and sendable: a disabled webhook's deliveries wait, due, until it
    # is enabled again, and would otherwise look like a backlog for ever.
    # Held ones (open circuit) are due only at their probe: not counted here.
    due = Delivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=now, webhook__enabled=True
    )
    yield _gauge(
        "webhooks_deliveries_due",
        "Pending deliveries due now (capped at METRICS_BACKLOG_CAP).",
        _capped_count(due),
    )
    oldest = due.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
    yield _gauge(
        "webhooks_oldest_due_delivery_age_seconds",
        "How long the oldest due delivery has waited past its time (0 when none).",
        (now - oldest).total_seconds() if oldest else 0.0,
    )
    open_ids = list(
        Webhook.objects.filter(enabled=True, circuit=Circuit.OPEN).values_list("id", flat=True)[
            : settings.METRICS_BACKLOG_CAP
        ]
    )
    held = Delivery.objects.filter(status=DeliveryStatus.PENDING, webhook_id__in=open_ids)
    yield _gauge(
        "webhooks_deliveries_held",
        "Pending deliveries held by open circuits (capped at METRICS_BACKLOG_CAP).",
        _capped_count(held) if open_ids else 0,
    )


def webhook_metrics() -> Iterator[Metric]:
    counts = Webhook.objects.aggregate(
        **{str(state): Count("id", filter=health_q(state)) for state in HEALTH_ORDER}
    )
    by_health = GaugeMetricFamily("webhooks_webhooks", "Webhooks by health.", labels=["health"])
    for state in HEALTH_ORDER:
        by_health.add_metric([state], counts[str(state)])
    yield by_health
    failures = GaugeMetricFamily(
        "webhooks_webhook_consecutive_failures",
        "Failed attempts in a row, for the worst unhealthy webhooks only (METRICS_TOP_WEBHOOKS).",
        labels=["webhook", "name", "health"],
    )
    unhealthy = Webhook.objects.filter(~health_q(Health.HEALTHY)).order_by(
        "-consecutive_failures", "id"
    )[: settings.METRICS_TOP_WEBHOOKS]
    for webhook in unhealthy.only(
        "id", "name", "enabled", "circuit", "consecutive_failures", "throttle_limit"
    ):
        failures.add_metric(
            [str(webhook.id), webhook.name, webhook.health], webhook.consecutive_failures
        )
    yield failures


def liveness_metrics(now: dt.datetime) -> Iterator[Metric]:
    yield _gauge(
        "webhooks_workers_alive",
        "Worker nodes with a fresh heartbeat (WORKER_HEARTBEAT_STALE_AFTER).",
        len(liveness.workers_alive(now=now)),
    )
    swept = liveness.beat_last_sweep()
    yield _gauge(
        "webhooks_sweep_last_run_timestamp_seconds",
        "When the sweeper last finished (Unix time; 0: never).",
        swept.timestamp() if swept else 0.0,
    )
    purge = liveness.last_purge()
    yield _gauge(
        "webhooks_purge_last_run_timestamp_seconds",
        "When the purge last finished (Unix time; 0: never).",
        purge.finished_at.timestamp() if purge else 0.0,
    )


class DatabaseGauges(Collector):
    """The scrape-time gauges. If the database does not answer, the scrape
    still returns the processes' counters, and webhooks_database_up says 0."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        try:
            gathered = [
                *backlog_metrics(now),
                *webhook_metrics(),
                *liveness_metrics(now),
            ]
        except DatabaseError as exc:
            log.warning("metrics: database gauges not read: %s", exc)
            gathered, up = [], 0
        else:
            up = 1
        yield _gauge("webhooks_database_up", "Whether the scrape could read the database.", up)
        yield from gathered
