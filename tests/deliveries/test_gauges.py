"""Scrape-time gauges: backlog, held deliveries, unhealthy webhooks, liveness."""

import datetime as dt

import pytest
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest

from deliveries import liveness
from deliveries.gauges import DatabaseGauges
from deliveries.models import DeliveryStatus
from hooks.health import Circuit
from tests.factories import DeliveryFactory, WebhookFactory
from tests.scrape import Scrape

pytestmark = pytest.mark.django_db

PENDING = DeliveryStatus.PENDING


def gauges() -> Scrape:
    registry = CollectorRegistry()
    registry.register(DatabaseGauges())
    return Scrape(generate_latest(registry).decode())


def ago(seconds):
    return timezone.now() - dt.timedelta(seconds=seconds)


def test_an_idle_system_has_no_backlog():
    scraped = gauges()
    assert scraped.value("webhooks_database_up") == 1
    assert scraped.value("webhooks_deliveries_due") == 0
    assert scraped.value("webhooks_oldest_due_delivery_age_seconds") == 0
    assert scraped.value("webhooks_deliveries_held") == 0
    assert scraped.value("webhooks_workers_alive") == 0
    assert scraped.value("webhooks_sweep_last_run_timestamp_seconds") == 0


def test_due_deliveries_and_the_oldest_ones_age():
    hook = WebhookFactory()
    DeliveryFactory(webhook=hook, status=PENDING, next_attempt_at=ago(400))
    DeliveryFactory(webhook=hook, status=PENDING, next_attempt_at=ago(5))
    DeliveryFactory(webhook=hook, status=PENDING, next_attempt_at=ago(-60))  # not yet due
    DeliveryFactory(webhook=hook, status=DeliveryStatus.SUCCEEDED, next_attempt_at=None)
    # a disabled webhook's deliveries wait for it, due: not a backlog
    DeliveryFactory(webhook=WebhookFactory(enabled=False), status=PENDING, next_attempt_at=ago(9e4))

    scraped = gauges()

    assert scraped.value("webhooks_deliveries_due") == 2
    assert 400 <= scraped.value("webhooks_oldest_due_delivery_age_seconds") < 410


def test_counts_stop_at_the_cap(settings):
    settings.METRICS_BACKLOG_CAP = 2
    hook = WebhookFactory()
    for _ in range(3):
        DeliveryFactory(webhook=hook, status=PENDING, next_attempt_at=ago(1))
    assert gauges().value("webhooks_deliveries_due") == 2


def test_deliveries_held_by_open_circuits_and_the_worst_webhooks_by_name(settings):
    settings.METRICS_TOP_WEBHOOKS = 2
    probe = ago(-30)
    broken = WebhookFactory(
        name="broken", circuit=Circuit.OPEN, circuit_retry_at=probe, consecutive_failures=12
    )
    for _ in range(3):
        DeliveryFactory(webhook=broken, status=PENDING, next_attempt_at=probe)
    WebhookFactory(name="flaky", consecutive_failures=2)
    WebhookFactory(name="slightly", consecutive_failures=1)
    for _ in range(3):
        WebhookFactory()  # healthy: no series of their own

    scraped = gauges()

    assert scraped.value("webhooks_deliveries_held") == 3
    assert scraped.value("webhooks_webhooks", health="circuit_open") == 1
    assert scraped.value("webhooks_webhooks", health="degraded") == 2
    assert scraped.value("webhooks_webhooks", health="healthy") == 3
    named = scraped.labels("webhooks_webhook_consecutive_failures")
    assert [(x["name"], x["health"]) for x in named] == [
        ("broken", "circuit_open"),
        ("flaky", "degraded"),
    ]
    assert scraped.value("webhooks_webhook_consecutive_failures", name="broken") == 12


def test_liveness_gauges(settings):
    settings.WORKER_HEARTBEAT_STALE_AFTER = 30
    liveness.worker_beat(hostname="w1@a", pid=1)
    liveness.worker_beat(hostname="w2@a", pid=2, now=ago(60))  # stale
    swept = ago(3)
    liveness.sweep_record(now=swept)
    liveness.purge_record(rows_deleted=7, now=ago(100))

    scraped = gauges()

    assert scraped.value("webhooks_workers_alive") == 1
    assert scraped.value("webhooks_sweep_last_run_timestamp_seconds") == pytest.approx(
        swept.timestamp()
    )
    assert scraped.value("webhooks_purge_last_run_timestamp_seconds") > 0
