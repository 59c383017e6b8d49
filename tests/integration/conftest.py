"""Real parts: a Celery worker process, Redis, the test database, a receiver.

The worker is a separate `celery worker` process pointed at the test database
(PostgreSQL in CI, a SQLite file otherwise) and at the tests' Redis database.
It runs with short timings (retries in fractions of a second, a 6 s lease) so
that retries, expired claims and purges happen within a test. `redis_url` and
`receivers` come from tests/conftest.py, the process from tests/live.py.
"""

from __future__ import annotations

import pytest
import redis

from tests.live import CeleryProcess, worker_env

WORKER_SETTINGS = {
    "WEBHOOK_ALLOW_PRIVATE_IPS": "1",
    "WEBHOOK_RETRY_SCHEDULE": "0.3,0.6,1",
    "WEBHOOK_RETRY_JITTER": "0",
    "WEBHOOK_MAX_ATTEMPTS": "3",
    "WEBHOOK_TIMEOUT": "2",
    "WEBHOOK_CONNECT_TIMEOUT": "1",
    "WEBHOOK_LEASE_SECONDS": "6",
    "WEBHOOK_SWEEP_GRACE": "0",
    "WEBHOOK_REQUEUE_AFTER": "1",
    "WEBHOOK_SWEEP_INTERVAL": "1",
    "WEBHOOK_ETA_MAX": "30",
    "CELERY_VISIBILITY_TIMEOUT": "60",
    # Endpoint isolation (test_isolation.py): circuits open after 5 failures
    # in a row, for 1.5 s, then 3 s, at most 4 s; Retry-After up to 10 s.
    "WEBHOOK_CIRCUIT_FAILURES": "5",
    "WEBHOOK_CIRCUIT_COOLDOWN": "1.5",
    "WEBHOOK_CIRCUIT_COOLDOWN_MAX": "4",
    "WEBHOOK_RETRY_AFTER_MAX": "10",
    # Heartbeats (deliveries/liveness.py): a worker beats every 0.5 s.
    "WORKER_HEARTBEAT_INTERVAL": "0.5",
    "LOG_LEVEL": "INFO",
}


@pytest.fixture(scope="package")
def celery_env(django_db_setup, redis_url, tmp_path_factory) -> dict[str, str]:
    return worker_env(
        WORKER_SETTINGS, redis_url=redis_url, var_dir=tmp_path_factory.mktemp("worker-var")
    )


# Package scope, not session: tests/browser runs its own worker (other
# settings) on the same Redis queue, and two workers must never overlap.
@pytest.fixture(scope="package")
def worker_process(celery_env, tmp_path_factory):
    redis.Redis.from_url(celery_env["REDIS_URL"]).flushdb()
    process = CeleryProcess("worker", celery_env, tmp_path_factory.mktemp("logs"))
    yield process
    process.stop()


@pytest.fixture
def worker(worker_process, transactional_db, settings, request):
    """A running worker over committed data (transactional_db: the worker is
    another process and sees only what is committed)."""
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = True
    if not worker_process.running:
        worker_process.start()
    yield worker_process
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"--- {worker_process.kind} log ---\n{worker_process.log_tail()}")
