"""Real parts: a Celery worker process, Redis, the test database, a receiver.

The worker is a separate `celery worker` process pointed at the test database
(PostgreSQL in CI, a SQLite file otherwise) and at Redis database 15. It runs
with short timings (retries in fractions of a second, a 6 s lease) so that
retries, expired claims and purges happen within a test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from deliveries.receiver import Receiver
from webhooks_project.redis_server import ensure_redis

ROOT = Path(__file__).resolve().parents[2]

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
    "LOG_LEVEL": "INFO",
}


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the test database pytest-django created."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


class CeleryProcess:
    """A `celery worker` (or `beat`) subprocess in its own process group."""

    def __init__(self, kind: str, env: dict[str, str], log_dir: Path):
        self.kind, self.env, self.log_dir = kind, env, log_dir
        self.process: subprocess.Popen | None = None
        self.runs = 0

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.kind}-{self.runs}.log"

    def start(self, ready_marker: str = "ready.") -> None:
        self.runs += 1
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "webhooks_project",
            self.kind,
            "--loglevel",
            "INFO",
        ]
        if self.kind == "worker":
            args += [
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"test{self.runs}@%h",
            ]
        else:
            args += ["--schedule", str(self.log_dir / "beat-schedule")]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                args,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: kill() reaches the pool children
            )
        deadline = time.monotonic() + 60
        while ready_marker not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} did not start:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.running:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, no acknowledgements."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ["REDIS_URL"]
    private = ensure_redis(url, workdir=tmp_path_factory.mktemp("redis"))
    yield url
    if private is not None:
        private.terminate()
        private.wait(timeout=10)


@pytest.fixture(scope="session")
def celery_env(django_db_setup, redis_url, tmp_path_factory) -> dict[str, str]:
    from django.db import connection

    return {
        **os.environ,
        **WORKER_SETTINGS,
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": redis_url,
        "VAR_DIR": str(tmp_path_factory.mktemp("worker-var")),
        "PYTHONPATH": str(ROOT),
    }


@pytest.fixture(scope="session")
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


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def receiver():
    receivers: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        r = Receiver(**kwargs).start()
        receivers.append(r)
        return r

    yield make
    for r in receivers:
        r.stop()


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout: float = 20,
    every: float = 0.1,
    message: str = "condition",
):
    """Poll until predicate() is truthy; return its value or fail the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {message}")
        time.sleep(every)
