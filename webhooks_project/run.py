"""`make run`: the whole system in the foreground (web, worker, beat).

Starts a private Redis if none answers at REDIS_URL, migrates, makes sure an
admin login and API token exist, then runs gunicorn, a Celery worker and
celery-beat, and prints where to log in last, once the web server answers
and the worker and beat have printed their banners (their output passes
through this process). It retries on a short schedule (DEV_RETRY_SCHEDULE)
unless WEBHOOK_RETRY_SCHEDULE says otherwise.

It supervises them: a process that exits is started again after a backoff
(1 s, doubling up to 30 s; back to 1 s once it has run for a minute), with
one log line, and a private Redis that dies is started again (empty: the
sweeper re-queues what it held). Ctrl-C stops everything within a few
seconds: each child runs in its own process group, gets SIGTERM, and after
STOP_TIMEOUT whatever is left of its group (a gunicorn worker stuck on a
browser's idle keep-alive connection, a task mid-request) gets SIGKILL.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

import django

STOP_TIMEOUT = 5.0  # seconds from Ctrl-C to SIGKILL for what is still running
ANNOUNCE_AFTER_MAX = 60.0  # print the login by then even if a banner never showed
DEV_RETRY_SCHEDULE = "5,10,20,60,300,1800,7200"
BACKOFF_FIRST, BACKOFF_MAX, STABLE_AFTER = 1.0, 30.0, 60.0


def log(message: str) -> None:
    print(f"[run] {message}", flush=True)


@dataclass
class Child:
    """One supervised process: how to start it, and when to start it again."""

    name: str
    start: Callable[[], subprocess.Popen]
    # A line it prints once up (after its banner); seen: `ready` is set.
    ready_marker: bytes | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = BACKOFF_FIRST
    restart_at: float | None = None

    def launch(self) -> None:
        self.process, self.started_at, self.restart_at = self.start(), time.monotonic(), None
        if self.process.stdout is not None:
            threading.Thread(target=self._forward, args=(self.process.stdout,), daemon=True).start()

    def _forward(self, stream: IO[bytes]) -> None:
        # Its output goes to ours line by line, so that the supervisor knows
        # when its banner is out and can print the login after every banner.
        for line in iter(stream.readline, b""):
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
            if self.ready_marker and self.ready_marker in line:
                self.ready.set()

    def check(self) -> None:
        """Reap the process if it exited (no zombie), and restart it when due."""
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restarts += 1
                try:
                    self.launch()
                except SystemExit as exc:  # start_redis could not start it
                    log(f"{self.name} did not start ({exc}); trying again in {self.backoff:g} s")
                    self._schedule(now)
            return
        if self.process is None or self.process.poll() is None:
            return
        if now - self.started_at > STABLE_AFTER:
            self.backoff = BACKOFF_FIRST
        log(
            f"{self.name} exited with {self.process.returncode}; "
            f"starting it again in {self.backoff:g} s"
        )
        self._schedule(now)

    def _schedule(self, now: float) -> None:
        self.restart_at = now + self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)

    def signal_group(self, signum: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):  # the whole group is gone
                os.killpg(self.process.pid, signum)


def stop_all(children: list[Child], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM each group, wait up to `timeout`, SIGKILL the groups that are left."""
    for child in children:
        child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        if child.process is None:
            continue
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=max(deadline - time.monotonic(), 0))
    for child in children:
        # Also when the group leader exited: a gunicorn worker it left behind
        # still belongs to the group.
        child.signal_group(signal.SIGKILL)
        if child.process is not None:
            child.process.wait()


def web_command(bind: str) -> list[str]:
    """gunicorn as production runs it (its settings: webhooks_project/gunicorn_conf.py)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:webhooks_project.gunicorn_conf",
        "webhooks_project.wsgi",
        "--bind",
        bind,
    ]


def web_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # an answer, even an error page
    except OSError:
        return False


def announcement(credentials: str, *, port: str) -> str:
    """What a newcomer needs, printed once everything is up."""
    base = f"http://127.0.0.1:{port}"
    schedule = os.environ.get("WEBHOOK_RETRY_SCHEDULE", "")
    return (
        f"\n{'=' * 72}\n{credentials.rstrip()}\n\n"
        f"Admin: {base}/admin/   API: {base}/api/v1/   API docs: {base}/api/docs/\n"
        f"Retries after {schedule.replace(',', ', ')} s (WEBHOOK_RETRY_SCHEDULE).\n"
        f"{'=' * 72}\n"
    )


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webhooks_project.settings")
    # Local development defaults: a receiver on this machine must be allowed.
    os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE_IPS", "1")
    # Retries within a minute, so README's retry walkthrough (listen
    # --fail-first 2) shows its three attempts while you watch; production's
    # default waits 5 s, 5 min, 30 min...
    os.environ.setdefault("WEBHOOK_RETRY_SCHEDULE", DEV_RETRY_SCHEDULE)
    os.environ.setdefault("DEBUG", "1")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from webhooks_project.redis_server import redis_answers, start_redis

    port = os.environ.get("PORT", "8000")
    redis_dir = settings.VAR_DIR / "redis"
    redis_child = None
    if not redis_answers(settings.REDIS_URL):
        redis_child = Child("redis", lambda: start_redis(settings.REDIS_URL, workdir=redis_dir))
        redis_child.launch()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    credentials = io.StringIO()
    call_command("bootstrap", stdout=credentials)

    python = sys.executable
    commands = {
        "web": [*web_command(f"127.0.0.1:{port}"), "--access-logfile", "-"],
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "webhooks_project",
            "worker",
            "--loglevel",
            "INFO",
        ],
        "beat": [
            python,
            "-m",
            "celery",
            "-A",
            "webhooks_project",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(settings.VAR_DIR / "celerybeat-schedule"),
        ],
    }

    def starter(command: list[str]) -> Callable[[], subprocess.Popen]:
        # Its own process group: Ctrl-C reaches only this supervisor, which
        # stops the children in order and can SIGKILL a whole group. Its
        # output through a pipe that Child forwards to ours.
        return lambda: subprocess.Popen(
            command, process_group=0, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

    markers = {"worker": b" ready.", "beat": b"beat: Starting..."}
    children = [
        Child(name, starter(command), ready_marker=markers.get(name))
        for name, command in commands.items()
    ]

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for child in children:
        child.launch()

    admin_url = f"http://127.0.0.1:{port}/admin/"
    announced = False
    launched = time.monotonic()
    supervised = [*([redis_child] if redis_child else []), *children]
    try:
        while not stopping:
            for child in supervised:
                child.check()
            # Last, after every banner: the web server answers, the worker
            # said it is ready and beat that it started (or a minute passed).
            up = all(child.ready.is_set() for child in children if child.ready_marker)
            late = time.monotonic() - launched > ANNOUNCE_AFTER_MAX
            if not announced and (up or late) and web_answers(f"{admin_url}login/"):
                print(announcement(credentials.getvalue(), port=port), flush=True)
                announced = True
            time.sleep(0.2)
    finally:
        log("stopping")
        stop_all(children)
        if redis_child is not None:  # last: the others use it until they stop
            stop_all([redis_child])
    return 0


if __name__ == "__main__":
    sys.exit(main())
