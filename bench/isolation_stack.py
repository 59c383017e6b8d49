"""The isolation benchmark's system under test, built from bench/stack.py's
pieces: its database (recreated), Redis (a private redis-server unless
--redis-url names one), the healthy receiver (bench/receiver.py), the bad
ones (bench/hostile.py), and ONE Celery worker, started again before each
scenario so that no scenario inherits another's backlog or hung requests."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench.accounting import CpuGroups
from bench.common import BENCH_DIR, ROOT, setup_django
from bench.procs import Children
from bench.receipts import ReceiverClient, start_receiver
from bench.records import empty_tables
from bench.stack import (
    child_env,
    flush_redis,
    migrate,
    reset_database,
    scratch,
    start_redis,
    start_workers,
)

WORKER = "worker0"  # bench/stack.py's name for the first (here the only) worker


class HostileClient:
    """The bad receivers' ports and their control path (bench/hostile.py).
    Read from the main thread and the sampler's: one request at a time."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports
        self.session = requests.Session()
        self.lock = threading.Lock()

    def url(self, mode: str, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[mode]}/{mode}/{index}"

    def stats(self) -> dict[str, dict[str, int]]:
        """Per mode: connections held now, the most at once since the last
        read ("peak": reading resets it), accepted and requests so far."""
        with self.lock:
            url = f"http://127.0.0.1:{self.ports['control']}/_bench/stats"
            return json.loads(self.session.get(url, timeout=10).text)


def start_hostile(children: Children, env: dict[str, str], slow_seconds: float) -> HostileClient:
    cmd = [sys.executable, str(BENCH_DIR / "hostile.py"), "--slow-seconds", str(slow_seconds)]
    children.start("hostile", cmd, env, pipe=True)
    line = children.first_line("hostile")
    if not line.startswith("PORTS "):
        raise RuntimeError(f"hostile receiver said {line!r}\n{children.log_tail('hostile')}")
    return HostileClient({k: int(v) for k, v in (p.split("=") for p in line.split()[1:])})


@dataclass
class Isolation:
    """What a scenario needs of the running system."""

    args: argparse.Namespace  # bench/isolation.py's command line
    env: dict[str, str]  # the worker's environment (and this process's Django's)
    var_dir: Path
    children: Children
    receiver: ReceiverClient  # the healthy webhooks' receiver
    hostile: HostileClient  # the bad ones
    cpu: CpuGroups

    def fresh_worker(self) -> None:
        """Stop the worker (if any), empty Redis and the tables, start it again."""
        self.stop_worker()
        flush_redis(self.args.redis_url)
        empty_tables()
        self.cpu.roots["worker"] = start_workers(self.args, self.env, self.children)

    def stop_worker(self) -> None:
        # Now, not at exit: its hung requests must not run into the next scenario.
        self.children.stop(WORKER)


@contextmanager
def running(args: argparse.Namespace) -> Iterator[Isolation]:
    """Start all but the worker; on the way out stop every child, release the
    database's lock and remove the logs (unless --keep-var)."""
    with scratch("webhooks-iso-", ROOT, keep=args.keep_var) as run:
        children = run.children
        if not args.redis_url:
            args.redis_url = start_redis(children, run.var_dir)
        print(f"setting up: {args.database_url} (recreated), {args.redis_url}", flush=True)
        run.cleanup.callback(reset_database(args.database_url).close)  # releases the lock
        env = child_env(args, run.var_dir)
        migrate(env, ROOT)
        setup_django(env, ROOT)
        receiver = start_receiver(children, env)
        hostile = start_hostile(children, env, args.slow_seconds)
        roots = {"receiver": [children.procs[n].pid for n in ("receiver", "hostile")]}
        if "redis" in children.procs:
            roots["redis"] = [children.procs["redis"].pid]
        # The machine is shared: only our database's backends count as
        # "postgres", only our own redis-server as "redis"; the rest is "other".
        database = urlsplit(args.database_url).path.lstrip("/")
        cpu = CpuGroups(roots, postgres_database=database, redis_by_name=False)
        yield Isolation(args, env, run.var_dir, children, receiver, hostile, cpu)
