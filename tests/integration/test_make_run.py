"""`make run`'s entry point (python -m webhooks_project.run) as a newcomer uses it.

It used to print the admin URL before the web server answered, stop the whole
system when any one process exited, leave a dead private Redis as a zombie,
and, on Ctrl-C after a browser had used the console, leave a gunicorn worker
behind (parent pid 1, holding the port) after 25-41 s.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.live import ROOT, free_port, wait_until

pytestmark = pytest.mark.integration


def descendants(pid: int) -> set[int]:
    """Every live process under `pid` (children, grandchildren...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class MakeRun:
    def __init__(self, tmp_path: Path):
        self.port, self.redis_port = free_port(), free_port()
        self.log_path = tmp_path / "run.log"
        env = {
            **os.environ,
            "PORT": str(self.port),
            # Nothing listens there: run.py starts a private Redis of its own.
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "VAR_DIR": str(tmp_path / "var"),
            "WEB_CONCURRENCY": "2",
            "PYTHONPATH": str(ROOT),
        }
        with open(self.log_path, "wb") as log:
            # Its own session, as a terminal runs it: SIGINT to its group is Ctrl-C.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "webhooks_project.run"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        def found():
            assert self.process.poll() is None, self.log()
            return re.search(pattern, self.log())

        return wait_until(found, timeout=timeout, every=0.2, message=pattern)

    def kill_everything(self) -> None:
        for pid in descendants(self.process.pid) | {self.process.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def make_run(tmp_path):
    run = MakeRun(tmp_path)
    yield run
    if run.process.poll() is None:
        run.kill_everything()


def login_page(port: int) -> http.client.HTTPConnection:
    """A browser's connection: the login page fetched, the connection kept open."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/admin/login/", headers={"Connection": "keep-alive"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    return conn


def test_ctrl_c_after_using_the_console_stops_everything_within_seconds(make_run):
    # Given make run is up: it announces the console only once it answers
    make_run.wait_for(r"Admin: http://127\.0\.0\.1:\d+/admin/")
    login_page(make_run.port)
    assert re.search(r"Admin login: admin / .+\nAPI token: +\S+", make_run.log())

    # And a browser holds connections open: a used one, an idle pre-opened
    # one, and one that sent half a request
    browser = [login_page(make_run.port), login_page(make_run.port)]
    idle = socket.create_connection(("127.0.0.1", make_run.port))
    half = socket.create_connection(("127.0.0.1", make_run.port))
    half.sendall(b"GET /admin/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    processes = descendants(make_run.process.pid)
    assert len(processes) >= 6  # Redis, gunicorn and its 2 workers, worker and pool, beat

    # When Ctrl-C reaches the terminal's process group
    started = time.monotonic()
    os.killpg(make_run.process.pid, signal.SIGINT)

    # Then every process has ended within a few seconds, and the port is free
    make_run.process.wait(timeout=15)
    wait_until(lambda: not any(alive(pid) for pid in processes), timeout=3)
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"shutdown took {elapsed:.1f} s"
    assert port_is_free(make_run.port)
    assert port_is_free(make_run.redis_port)
    for conn in browser:
        conn.close()
    idle.close()
    half.close()


def test_a_process_that_dies_is_started_again(make_run):
    make_run.wait_for(r"Admin: http://")
    make_run.wait_for(r"celery@\S+ ready\.")
    # pid of the celery worker's main process, and of the private Redis
    children = {
        pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        for pid in descendants(make_run.process.pid)
    }
    worker = next(  # its main process, the leader of its group (not a pool process)
        p
        for p, cmd in children.items()
        if "celery" in cmd and " worker" in cmd and os.getpgid(p) == p
    )
    redis = next(p for p, cmd in children.items() if "redis-server" in cmd)

    # When the worker crashes, and the private Redis dies
    os.killpg(worker, signal.SIGKILL)
    os.kill(redis, signal.SIGKILL)

    # Then each is noticed (reaped: no zombie) and started again, with one line each
    make_run.wait_for(r"worker exited with -9; starting it again in 1 s", timeout=10)
    make_run.wait_for(r"redis exited with -9; starting it again in 1 s", timeout=10)
    wait_until(lambda: not alive(redis) and not alive(worker), timeout=5)
    make_run.wait_for(r"(?s)exited with -9.*celery@\S+ ready\.", timeout=60)
    assert make_run.process.poll() is None  # the rest kept running
    login_page(make_run.port)
