"""/health/live and /health/ready (webhooks_project/health.py)."""

import datetime as dt

import pytest
from django.db import OperationalError
from django.utils import timezone

from deliveries import liveness
from tests.live import free_port


def ago(seconds):
    return timezone.now() - dt.timedelta(seconds=seconds)


@pytest.fixture
def alive(db, settings, redis_url):
    """A deployment that is ready: Redis answers, a worker beat, the sweeper ran."""
    settings.REDIS_URL = redis_url
    liveness.worker_beat(hostname="celery@w1", pid=42)
    liveness.sweep_record()


def test_liveness_answers_without_looking_at_anything(client, settings):
    # No database here (pytest-django refuses any query without the db
    # fixture), and nothing answers at REDIS_URL: neither is its business.
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    for path in ("/health/live", "/health/"):
        response = client.get(path)
        assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_ready_reports_each_component(client, alive):
    response = client.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["components"]) == {"database", "redis", "workers", "beat"}
    assert all(c["ok"] for c in body["components"].values())
    workers = body["components"]["workers"]
    assert (workers["alive"], workers["workers"][0]["hostname"]) == (1, "celery@w1")
    assert body["components"]["beat"]["age_seconds"] < 5


def test_unready_when_redis_does_not_answer(client, alive, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    response = client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unready"
    assert body["components"]["redis"]["ok"] is False
    assert "ConnectionError" in body["components"]["redis"]["error"]
    assert body["components"]["database"]["ok"] is True


def test_unready_without_a_live_worker(client, alive, settings):
    settings.WORKER_HEARTBEAT_STALE_AFTER = 30
    liveness.worker_forget(hostname="celery@w1", pid=42)
    liveness.worker_beat(hostname="celery@w2", pid=43, now=ago(31))

    response = client.get("/health/ready")

    assert response.status_code == 503
    workers = response.json()["components"]["workers"]
    assert (workers["ok"], workers["alive"]) == (False, 0)
    assert workers["error"] == "no worker heartbeat in the last 30 s"


@pytest.mark.parametrize(("last", "error"), [(None, "the sweeper never ran"), (61, "no sweep")])
def test_unready_when_the_sweeper_is_late_or_never_ran(client, alive, settings, last, error):
    settings.HEALTH_SWEEP_STALE_AFTER = 60
    from deliveries.models import Heartbeat

    Heartbeat.objects.filter(kind="sweep").delete()
    if last is not None:
        liveness.sweep_record(now=ago(last))

    response = client.get("/health/ready")

    assert response.status_code == 503
    beat = response.json()["components"]["beat"]
    assert beat["ok"] is False and beat["error"].startswith(error)


def test_unready_when_the_database_fails_and_the_rest_is_unknown(client, alive, monkeypatch):
    def broken():
        raise OperationalError("connection refused")

    with monkeypatch.context() as patch:  # undone before the test database's teardown
        patch.setattr("webhooks_project.health.connection.cursor", broken)
        body = client.get("/health/ready").json()

    assert body["status"] == "unready"
    assert body["components"]["database"] == {
        "ok": False,
        "error": "OperationalError: connection refused",
    }
    assert body["components"]["workers"]["error"].startswith("unknown")
    assert body["components"]["redis"]["ok"] is True


def test_health_checks_refuse_writes(client):
    assert client.post("/health/ready").status_code == 405


def test_a_redis_that_never_answers_is_reported_within_about_a_second(client, alive, settings):
    import socket
    import time

    with socket.socket() as hung:  # accepts connections (the backlog), never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        settings.REDIS_URL = f"redis://127.0.0.1:{hung.getsockname()[1]}/0"
        started = time.monotonic()
        response = client.get("/health/ready")
        took = time.monotonic() - started

    assert response.status_code == 503
    assert response.json()["components"]["redis"]["error"].startswith("TimeoutError")
    assert took < 2.5  # one try with a 1 s timeout, not redis-py's retries


def test_a_database_that_never_answers_is_reported_within_its_connect_timeout(alive):
    # A server that drops packets: the kernel's SYN retries would hold the
    # check (and any request) for about two minutes.
    import copy
    import socket
    import time

    from django.db import connection, connections

    from webhooks_project import health

    if connection.vendor != "postgresql":
        pytest.skip("connect_timeout is libpq's")
    assert connection.settings_dict["OPTIONS"]["connect_timeout"] == 5  # the default
    with socket.socket() as hung:  # accepts connections (the backlog), never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        params = copy.deepcopy(connection.settings_dict)
        params.update(HOST="127.0.0.1", PORT=str(hung.getsockname()[1]))
        elsewhere = type(connections["default"])(params)  # a wrapper of its own
        started = time.monotonic()
        try:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(health, "connection", elsewhere)
                component = health.database_check()
        finally:
            elsewhere.close()
        took = time.monotonic() - started

    assert component["ok"] is False and component["error"].startswith("OperationalError")
    assert 4 < took < 10, took
