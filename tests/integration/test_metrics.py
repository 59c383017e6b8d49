"""Prometheus scrapes the web's /metrics and sees what a real worker did.

The worker is another process: it counts into its own files in the shared
PROMETHEUS_MULTIPROC_DIR (inherited from this test run), and the scrape,
answered here, adds them up, as gunicorn's /metrics does in production.
"""

from __future__ import annotations

import pytest
from django.test import Client

from deliveries.models import DeliveryStatus
from deliveries.receiver import always
from tests.conftest import EVENTS
from tests.factories import WebhookFactory
from tests.live import wait_until
from tests.scrape import TOKEN, scrape

pytestmark = pytest.mark.integration


@pytest.fixture
def prometheus(settings):
    """Scrapes as Prometheus would: GET /metrics with the bearer token."""
    settings.METRICS_TOKEN = TOKEN
    return lambda: scrape(Client())


def delta(before, after, metric, **labels):
    return after.value(metric, **labels) - before.value(metric, **labels)


def test_counters_move_after_real_deliveries_by_a_real_worker(
    worker, receivers, tenants, admin, prometheus
):
    ok = receivers()
    failing = receivers(responder=always(500))
    acct = tenants["east_acct"]
    WebhookFactory(payload_url=f"{ok.url}/ok", account=acct, event_types=["VM.*"])
    # one attempt each, so that three failures stay below the circuit's five
    broken = WebhookFactory(
        payload_url=f"{failing.url}/no", account=acct, event_types=["VM.*"], max_attempts=1
    )
    before = prometheus()

    # when three events are published over the API, to a good and a failing receiver
    for n in range(3):
        response = admin.post(
            EVENTS, {"type": "VM.CREATE", "account": str(acct.id), "data": {"n": n}}, format="json"
        )
        assert response.status_code == 202, response.content
    wait_until(lambda: len(ok.received) == 3, message="three deliveries to the good receiver")
    # the failing one: its one attempt fails, and the delivery is failed
    wait_until(
        lambda: broken.deliveries.filter(status=DeliveryStatus.FAILED).count() == 3,
        timeout=30,
        message="the failing deliveries to run out of attempts",
    )

    # (the worker publishes delivery.exhausted after it records the failure)
    def settled():
        s = prometheus()
        failed = delta(before, s, "webhooks_delivery_outcomes_total", outcome="failed")
        return (
            s if failed == 3 and delta(before, s, "webhooks_events_published_total") == 6 else None
        )

    after = wait_until(settled, message="the worker's counts to reach the scrape")
    # three from the API, three delivery.exhausted the worker published (nobody wants them)
    assert delta(before, after, "webhooks_events_published_total") == 6
    assert delta(before, after, "webhooks_deliveries_created_total") == 6
    assert delta(before, after, "webhooks_delivery_outcomes_total", outcome="succeeded") == 3
    assert delta(before, after, "webhooks_delivery_outcomes_total", outcome="retry") == 0
    assert delta(before, after, "webhooks_attempts_total", result="2xx") == 3
    assert delta(before, after, "webhooks_attempts_total", result="5xx") == 3
    assert delta(before, after, "webhooks_attempt_duration_seconds_count") == 6
    # publish-to-receipt lag: one observation per delivered delivery, each under 30 s
    assert delta(before, after, "webhooks_delivery_lag_seconds_count") == 3
    assert 0 < delta(before, after, "webhooks_delivery_lag_seconds_sum") < 90
    assert delta(before, after, "webhooks_delivery_lag_seconds_bucket", le="30.0") == 3
    # API latency, by view: the three publishes
    assert (
        delta(
            before,
            after,
            "webhooks_http_request_duration_seconds_count",
            view="event-list",
            method="POST",
            status="2xx",
        )
        == 3
    )
    # the worker's heartbeat shows in the scrape-time gauges
    assert after.value("webhooks_workers_alive") >= 1
    assert after.value("webhooks_webhooks", health="degraded") == 1
