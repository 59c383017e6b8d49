"""/health/ready with real processes: a Celery worker, celery-beat, redis-server.

Readiness turns 503 when the workers stop or Redis does, and says which.
"""

from __future__ import annotations

import pytest
from django.test import Client

from deliveries import liveness
from tests.live import CeleryProcess, free_port, wait_until
from webhooks_project.redis_server import start_redis

pytestmark = pytest.mark.integration


@pytest.fixture
def beat(worker, celery_env, tmp_path, settings):
    settings.WORKER_HEARTBEAT_STALE_AFTER = 2
    settings.HEALTH_SWEEP_STALE_AFTER = 5
    process = CeleryProcess("beat", celery_env, tmp_path)
    process.start(ready_marker="beat: Starting")
    yield process
    process.stop()


def readiness():
    response = Client().get("/health/ready")
    return response.status_code, response.json()


def ready():
    status, body = readiness()
    return body if status == 200 else None


def test_ready_with_a_worker_and_beat_and_unready_once_the_worker_stops(worker, beat):
    body = wait_until(ready, timeout=30, message="the deployment to be ready")
    assert body["status"] == "ready"
    assert {name: c["ok"] for name, c in body["components"].items()} == {
        "database": True,
        "redis": True,
        "workers": True,
        "beat": True,
    }
    assert body["components"]["workers"]["alive"] >= 1
    # beat writes its own heartbeat too (manage.py healthcheck beat reads it)
    assert liveness.beat_last_tick() is not None

    # when the worker stops (a warm shutdown: it takes its heartbeat with it)
    worker.stop()

    status, body = readiness()
    assert status == 503
    assert body["status"] == "unready"
    assert body["components"]["workers"] == {
        "ok": False,
        "alive": 0,
        "workers": [],
        "error": "no worker heartbeat in the last 2 s",
    }
    assert body["components"]["database"]["ok"] and body["components"]["redis"]["ok"]
    # and with no worker to run it, the sweep goes stale too
    wait_until(
        lambda: not readiness()[1]["components"]["beat"]["ok"],
        timeout=15,
        message="the sweep to go stale",
    )


def test_unready_when_redis_stops(worker, beat, settings, tmp_path):
    # a private redis-server the web (this process) uses as its broker
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    server = start_redis(settings.REDIS_URL, workdir=tmp_path / "redis", log=lambda _: None)
    try:
        wait_until(ready, timeout=30, message="the deployment to be ready")

        server.terminate()
        server.wait(timeout=10)

        status, body = readiness()
        assert status == 503
        redis_state = body["components"]["redis"]
        assert redis_state["ok"] is False
        assert redis_state["error"].startswith("ConnectionError")
        assert body["components"]["workers"]["ok"] is True
    finally:
        server.kill()
        server.wait(timeout=10)
