"""Real processes for the tests that need them (tests/integration, tests/browser).

A `celery worker` subprocess pointed at the test database pytest-django
created (PostgreSQL, or the SQLite file settings.py names for tests) and at
the tests' Redis database; and a helper to wait for what it does. The
fixtures built on these live in tests/conftest.py and in each suite's own
conftest, which chooses the worker's settings.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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


def worker_env(
    worker_settings: Mapping[str, str], *, redis_url: str, var_dir: Path
) -> dict[str, str]:
    """The environment of a worker that shares this test run's database and Redis.

    Call it after the test database exists (depend on `django_db_setup`).
    """
    from django.db import connection

    return {
        **os.environ,
        **worker_settings,
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": redis_url,
        "VAR_DIR": str(var_dir),
        "PYTHONPATH": str(ROOT),
    }


class CeleryProcess:
    """A `celery worker` (or `beat`) subprocess in its own process group."""

    def __init__(
        self, kind: str, env: dict[str, str], log_dir: Path, *, like_make_run: bool = False
    ):
        """like_make_run: a worker with gossip, mingle and heartbeat on, as
        `make run` and production run it (tests turn them off to start faster)."""
        self.kind, self.env, self.log_dir = kind, env, log_dir
        self.like_make_run = like_make_run
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
            args += ["--concurrency", "2", "--hostname", f"test{self.runs}@%h"]
            if not self.like_make_run:
                args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
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


def free_port() -> int:
    """A TCP port nothing listens on now, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
