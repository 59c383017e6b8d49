"""Prometheus scrapes the web's /metrics and sees what a real worker did.

The worker is another process: it counts into its own files in the shared
PROMETHEUS_MULTIPROC_DIR (inherited from this test run), and the scrape,
answered here, adds them up, as gunicorn's /metrics does in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request

import pytest
from django.test import Client

from deliveries import metrics
from deliveries.models import DeliveryStatus
from deliveries.receiver import always
from tests.conftest import EVENTS
from tests.factories import WebhookFactory
from tests.live import ROOT, free_port, wait_until, worker_env
from tests.scrape import TOKEN, Scrape, scrape
from webhooks_project.run import web_command

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


@pytest.fixture
def gunicorn(django_db_setup, transactional_db, redis_url, tmp_path):
    """gunicorn as production runs it: 2 gthread workers, their own metrics directory."""
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = worker_env(
        {"METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
        redis_url=redis_url,
        var_dir=tmp_path,
    )
    with open(tmp_path / "web.log", "wb") as log:
        process = subprocess.Popen(
            [*web_command(f"127.0.0.1:{port}"), "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: process.poll() is not None or _get(f"{url}/health/live"), timeout=30)
    assert process.poll() is None, (tmp_path / "web.log").read_text()
    yield url, metrics_dir, process
    process.terminate()
    process.wait(timeout=30)


def _get(url: str, **headers: str) -> bytes | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.read()
    except OSError:
        return None


def test_gunicorn_workers_count_into_one_scrape_and_a_restart_loses_nothing(gunicorn):
    url, metrics_dir, master = gunicorn

    def live_count() -> float:
        text = _get(f"{url}/metrics", Authorization=f"Bearer {TOKEN}")
        assert text is not None
        return Scrape(text.decode()).value(
            "webhooks_http_request_duration_seconds_count", view="health-live", status="2xx"
        )

    def writers() -> set[int]:
        return {int(p.stem.rsplit("-", 1)[1]) for p in metrics_dir.glob("histogram_*.db")}

    start = live_count()  # the fixture's own probes
    children = {int(p) for p in subprocess.check_output(["pgrep", "-P", str(master.pid)]).split()}
    # A new connection each, until both workers have answered some: which
    # worker accepts a connection is the kernel's choice, and on a busy
    # machine one may take twenty in a row.
    sent = 0
    while sent < 20 or not children <= writers():
        assert _get(f"{url}/health/live") is not None
        sent += 1
        assert sent < 500, "one worker answered every request"
    # whichever worker answers the scrape, it sees both workers' counts
    assert {live_count() - start for _ in range(6)} == {sent}
    assert children <= writers(), "each worker writes its own file"

    # when a worker is killed, gunicorn starts another, which folds the dead one's files
    victim = sorted(children)[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: not (metrics_dir / f"histogram_{metrics.HOST}-{victim}.db").exists(),
        timeout=30,
        message="the new worker to fold the dead one's files",
    )
    assert (metrics_dir / f"histogram_{metrics.HOST}-archive.db").exists()
    assert {live_count() - start for _ in range(6)} == {sent}
