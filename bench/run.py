"""Throughput and latency of the whole pipeline against PostgreSQL and Redis.

    python bench/run.py [--events 2000] [--webhooks 10] [--workers 1] [--concurrency 2]
                        [--via api|python] [--rate 50] [--duration 20] ...

Starts, on 127.0.0.1 only: a fast receiver (bench/receiver.py), W Celery
workers and, for --via api, gunicorn. Then:
  a. throughput: publishes --events events as fast as it can, each matching
     all --webhooks webhooks, and times first publish -> last receipt;
  b. latency: publishes at --rate events/s for --duration s and reports
     receipt time - publish-call start, per delivery.
Every delivery is checked at the receiver (missing, duplicates) and in the
database (all succeeded); the exit status is 1 if one was not. The database
named in --database-url (or $BENCH_DATABASE_URL) is dropped and created again,
and the Redis database in --redis-url (or $BENCH_REDIS_URL) is flushed: point
them at nothing you want to keep.

Besides the figures, each phase prints where the CPU went ("CPU seconds": per
process group, plus "other" for whatever else ran on the machine and "steal"
for a VM host's share) and, for throughput, the CPU cost of one delivery and
the rate the machine's cores could sustain at that cost: a figure that
hardly moves when something else shares the machine, unlike deliveries/s.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue
from typing import Any
from urllib.parse import urlsplit

import requests
from common import lock_database, machine_busy, recreate_database

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
EVENT_TYPE = "bench.event"
MiB = 1024 * 1024
TARGET_DELIVERIES_PER_S = 1000
TARGET_P99_MS = 30.0

# --- options --------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Webhook delivery benchmark (PostgreSQL + Redis + Celery + pycurl).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--events", type=int, default=2000, help="events in the throughput phase")
    p.add_argument("--webhooks", type=int, default=10, help="webhooks, all matching every event")
    p.add_argument("--workers", type=int, default=1, help="Celery workers, each with a pool")
    p.add_argument("--concurrency", type=int, default=2, help="pool size of each worker")
    p.add_argument("--pool", choices=["prefork", "solo"], default="prefork", help="Celery pool")
    p.add_argument("--fair", action="store_true", help="start workers with -O fair")
    p.add_argument("--via", choices=["api", "python"], default="api", help="how to publish")
    p.add_argument("--publishers", type=int, default=4, help="publishing threads")
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        help="throughput phase: events per publish call (api: POST /api/v1/events/batch/; "
        "python: one transaction)",
    )
    p.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (--via api)")
    p.add_argument("--rate", type=float, default=50, help="latency phase: events per second")
    p.add_argument("--duration", type=float, default=20, help="latency phase: seconds")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/webhooks_bench"
        ),
        help="dropped and created again at start",
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="flushed at start",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for every process, e.g. WEBHOOK_BATCH_SIZE=10 (repeatable)",
    )
    p.add_argument(
        "--stall-timeout", type=float, default=30, help="give up after this long without progress"
    )
    p.add_argument(
        "--project-dir",
        type=Path,
        default=ROOT,
        help="the checkout to benchmark (another copy, to compare a change)",
    )
    p.add_argument("--keep-var", action="store_true", help="keep the temporary VAR_DIR and logs")
    args = p.parse_args(argv)
    names = ("events", "webhooks", "workers", "concurrency", "publishers", "web_workers", "batch")
    for name in names:
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.rate <= 0 or args.duration <= 0:
        p.error("--rate and --duration must be positive")
    for item in args.env:
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", item):
            p.error(f"--env {item!r}: use NAME=VALUE")
    for url in (args.database_url, args.redis_url):
        host = urlsplit(url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            p.error(f"{url}: the benchmark only talks to 127.0.0.1")
    return args


# --- child processes ------------------------------------------------------------


class Children:
    """Processes this script started; each in its own session so that Ctrl-C
    reaches only us, and we stop them in order, whole process group at once
    (a Celery prefork worker's pool children included)."""

    def __init__(self, log_dir: Path, cwd: Path) -> None:
        self.log_dir = log_dir
        self.cwd = cwd
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, cmd: list[str], env: dict[str, str], *, pipe: bool = False
    ) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 (the child keeps it)
        proc = subprocess.Popen(
            cmd,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe else log,
            stderr=log,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"  {name}| {line}" for line in text)

    def last_error(self, name: str) -> str:
        """The last exception line ("module.SomeError: message") in a child's log."""
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        errors = re.findall(r"^[\w.]*(?:Error|Exception)\b.*$", text, re.MULTILINE)
        return errors[-1] if errors else ""

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}\n{self.log_tail(name)}")

    def stop_all(self, timeout: float = 15) -> None:
        # Reverse order: web and workers before the receiver they talk to.
        procs = list(reversed(self.procs.items()))
        for _, proc in procs:
            if proc.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _, proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            # The pool children of a worker may outlive its main process briefly.
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when this script dies, even by
    SIGKILL, so no orphaned worker goes on consuming the benchmark's queue."""
    import ctypes

    pr_set_pdeathsig = 1
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def run_checked(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{shlex.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def wait_until(what: str, check: Callable[[], bool], timeout: float, children: Children) -> None:
    deadline = time.monotonic() + timeout
    while True:
        children.check_alive()
        with suppress(Exception):
            if check():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(0.1)


# --- set-up ---------------------------------------------------------------------


def reset_database(url: str) -> Any:
    """Drop and create the benchmark database: every run starts from nothing.
    Returns the maintenance connection, which holds the database's lock until
    it is closed (bench/common.py)."""
    conn, name = lock_database(url)
    try:
        recreate_database(conn, name)
    except BaseException:
        conn.close()
        raise
    return conn


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=10)
    client.flushdb()
    client.close()


def child_env(args: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="webhooks_project.settings",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        WEBHOOK_ALLOW_PRIVATE_IPS="1",
        VAR_DIR=str(var_dir),
        LOG_LEVEL="WARNING",
        DEBUG="0",  # DEBUG keeps every SQL query in memory: a leak, and slower
        PYTHONUNBUFFERED="1",
    )
    for item in args.env:
        name, _, value = item.partition("=")
        env[name] = value
    return env


def setup_django(env: dict[str, str], project: Path) -> None:
    """This process uses the ORM (webhooks, checks, --via python) with the
    children's settings, so it must see the same environment first."""
    os.environ.update(env)
    # First on the path: --project-dir's code, not the venv's editable install.
    # And the working directory too: Celery's Django fixup puts os.getcwd() at
    # the head of sys.path while Django sets up, ahead of what we put there.
    sys.path.insert(0, str(project))
    os.chdir(project)
    import django

    django.setup()


def bootstrap(env: dict[str, str], project: Path) -> str:
    python = sys.executable
    migrate = [python, "manage.py", "migrate", "--noinput", "-v", "0"]
    run_checked(migrate, env, project, timeout=300)
    out = run_checked([python, "manage.py", "bootstrap"], env, project, timeout=120)
    match = re.search(r"API token:\s+(\S+)", out)
    if not match:
        raise RuntimeError(f"no API token in bootstrap output:\n{out}")
    return match.group(1)


def create_webhooks(count: int, receiver_port: int) -> None:
    from hooks.models import Account, Scope
    from hooks.services import webhook_create

    account = Account.objects.get(name="admin", domain__parent__isnull=True)
    for i in range(count):
        # Global scope: the API publishes as the root admin with no account, and
        # a global webhook sees every event. A secret is generated, so every
        # request is signed, as in production.
        webhook_create(
            name=f"bench-{i}",
            payload_url=f"http://127.0.0.1:{receiver_port}/hook/{i}",
            account=account,
            scope=Scope.GLOBAL,
            event_types=[EVENT_TYPE],
        )


# --- the receiver ---------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    event_id: str
    path: str
    at: float  # time.time() at the receiver


class ReceiverClient:
    """Reads what bench/receiver.py recorded, over its control paths."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.session = requests.Session()

    def count(self) -> int:
        return int(self.session.get(f"{self.base}/_bench/count", timeout=10).text)

    def since(self, offset: int) -> list[Receipt]:
        text = self.session.get(f"{self.base}/_bench/records?since={offset}", timeout=60).text
        out = []
        for line in text.splitlines():
            event_id, path, at = line.split("\t")
            out.append(Receipt(event_id, path, float(at)))
        return out


def start_receiver(children: Children, env: dict[str, str]) -> int:
    proc = children.start(
        "receiver", [sys.executable, str(BENCH_DIR / "receiver.py")], env, pipe=True
    )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=15):
            raise TimeoutError(f"receiver did not start\n{children.log_tail('receiver')}")
    line = proc.stdout.readline().decode()
    if not line.startswith("PORT "):
        raise RuntimeError(f"receiver said {line!r}\n{children.log_tail('receiver')}")
    return int(line.split()[1])


# --- resource sampling ----------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds) for every process we can read.

    CPU includes the children the process has reaped: PostgreSQL forks a
    backend per connection, and Celery's Django fixup closes the worker's
    connection around every task, so their CPU lands in the postmaster's
    cutime/cstime. A live process's own children are not in it: no double count.
    """
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # comm is in parentheses and may itself contain spaces or parentheses.
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        cpu = sum(int(f) for f in fields[11:15]) / CLK_TCK  # utime stime cutime cstime
        table[int(entry)] = (int(fields[1]), comm, cpu)
    return table


def _tree(table: dict[int, tuple[int, str, float]], roots: Sequence[int]) -> set[int]:
    members = {r for r in roots if r in table}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in table.items():
            if ppid in members and pid not in members:
                members.add(pid)
                grew = True
    return members


def _kib_field(path: str, name: str) -> int:
    """A "Name:   123 kB" line of a /proc file, in bytes (0 if gone)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Peak memory of the worker process trees (main processes plus pool
    children), sampled every 0.2 s. RSS is what the brief asks for; summed over
    forked processes it counts shared copy-on-write pages once per process, so
    PSS (each shared page split among its sharers) is kept beside it.
    `phase_peak()` returns the peaks since its last call."""

    def __init__(self, roots: Sequence[int], interval: float = 0.2) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.roots = list(roots)
        self.interval = interval
        self.peak = (0, 0)  # (RSS, PSS) in bytes, each its own maximum
        self._phase_peak = (0, 0)
        self._done = threading.Event()
        self._lock = threading.Lock()

    def sample(self) -> tuple[int, int]:
        pids = _tree(_proc_table(), self.roots)
        rss = sum(_kib_field(f"/proc/{pid}/status", "VmRSS:") for pid in pids)
        pss = sum(_kib_field(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in pids)
        return rss, pss

    def run(self) -> None:
        while not self._done.wait(self.interval):
            rss, pss = self.sample()
            with self._lock:
                self.peak = (max(self.peak[0], rss), max(self.peak[1], pss))
                self._phase_peak = (max(self._phase_peak[0], rss), max(self._phase_peak[1], pss))

    def phase_peak(self) -> tuple[int, int]:
        with self._lock:
            peak, self._phase_peak = self._phase_peak, (0, 0)
        return peak

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


def memory_line(peak: tuple[int, int]) -> str:
    return f"peak worker RSS: {peak[0] / MiB:.0f} MiB  (PSS {peak[1] / MiB:.0f} MiB)"


@dataclass
class CpuGroups:
    """CPU seconds used by each part of the system, from /proc: our process
    trees by their roots, PostgreSQL and Redis by command name, and "machine"
    (all busy CPU, from /proc/stat) so that what nobody here used shows too."""

    roots: dict[str, list[int]]  # group -> main pids; their descendants count too

    def snapshot(self) -> dict[str, float]:
        table = _proc_table()
        out: dict[str, float] = Counter()
        for group, roots in self.roots.items():
            for pid in _tree(table, roots):
                out[group] += table[pid][2]
        # This process alone: every other group descends from it.
        out["bench"] = table[os.getpid()][2]
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal: busy is all but idle+iowait.
        out["machine"] = (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLK_TCK
        # Steal: time a virtual machine's host gave our cores to someone else.
        out["steal"] = ticks[7] / CLK_TCK
        out["wall"] = time.monotonic()
        for _, comm, cpu in table.values():
            if comm.startswith("postgres"):
                out["postgres"] += cpu
            elif comm.startswith("redis-server"):
                out["redis"] += cpu
        return out


def cpu_per_delivery_line(before: dict[str, float], after: dict[str, float], count: int) -> str:
    """CPU cost per delivery, and the rate two cores could sustain at that cost.

    Unlike deliveries/s, this hardly moves when something else shares the
    machine (see "other" above), so runs on a busy machine still compare.
    """
    groups = ["worker", "web", "postgres", "redis", "receiver", "bench"]
    used = {g: (after.get(g, 0) - before.get(g, 0)) / max(1, count) * 1000 for g in groups}
    system = sum(used[g] for g in ("worker", "web", "postgres", "redis"))
    everything = sum(used.values())
    cores = os.cpu_count() or 1
    parts = "  ".join(f"{g} {used[g]:.2f}" for g in groups if g in after)
    return (
        f"CPU ms per delivery: {parts}  (platform {system:.2f}, all {everything:.2f}): "
        f"{cores} cores sustain at most ~{cores * 1000 / max(everything, 1e-9):.0f} deliveries/s"
    )


def cpu_line(before: dict[str, float], after: dict[str, float]) -> str:
    order = ["worker", "web", "postgres", "redis", "receiver", "bench"]
    used = {g: after.get(g, 0) - before.get(g, 0) for g in order}
    busy = after["machine"] - before["machine"]
    used["steal"] = after["steal"] - before["steal"]
    # "other": everything else on the machine (another test run, the kernel...).
    used["other"] = max(0.0, busy - sum(used.values()))
    parts = "  ".join(f"{g} {v:.1f}" for g, v in used.items() if g in after or g == "other")
    return (
        f"CPU seconds: {parts}  (machine busy {busy:.1f} of "
        f"{(after['wall'] - before['wall']) * (os.cpu_count() or 1):.1f} core-seconds)"
    )


# --- publishing -----------------------------------------------------------------


def event_payload(seq: int, phase: str) -> dict[str, Any]:
    """A small, CloudStack-like event (about 300 bytes as delivered)."""
    return {
        "type": EVENT_TYPE,
        "resource": {"id": f"vm-{seq}", "type": phase},
        "data": {
            "seq": seq,
            "vm": {"name": f"bench-vm-{seq}", "state": "Running", "zone": "zone-1"},
            "offering": {"cpus": 2, "memory_mb": 4096},
        },
    }


class Publisher:
    """Publishes events and returns their ids. Called from several threads."""

    label = ""

    def publish(self, seqs: Sequence[int], phase: str) -> list[str]:
        """One event per seq; more than one: all in one call (one request, one transaction)."""
        raise NotImplementedError

    def thread_done(self) -> None:
        """Release what the calling thread holds (a session, a DB connection)."""


class ApiPublisher(Publisher):
    label = "api"

    def __init__(self, port: int, token: str) -> None:
        self.url = f"http://127.0.0.1:{port}/api/v1/events/"
        self.token = token
        self.local = threading.local()

    def publish(self, seqs: Sequence[int], phase: str) -> list[str]:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
            session.headers["Authorization"] = f"Token {self.token}"
        if len(seqs) == 1:
            body: Any = event_payload(seqs[0], phase)
            response = session.post(self.url, json=body, timeout=30)
        else:
            body = {"events": [event_payload(seq, phase) for seq in seqs]}
            response = session.post(f"{self.url}batch/", json=body, timeout=60)
        if response.status_code != 202:
            raise RuntimeError(f"publish: HTTP {response.status_code} {response.text[:300]}")
        answer = response.json()
        return [item["id"] for item in answer] if len(seqs) > 1 else [answer["id"]]

    def thread_done(self) -> None:
        session = getattr(self.local, "session", None)
        if session is not None:
            session.close()


class PythonPublisher(Publisher):
    label = "python"

    def publish(self, seqs: Sequence[int], phase: str) -> list[str]:
        from django.db import transaction

        from deliveries.publishing import event_publish

        ids = []
        with transaction.atomic():  # as the batch endpoint does: all or none
            for seq in seqs:
                body = event_payload(seq, phase)
                result = event_publish(
                    type=body["type"],
                    data=body["data"],
                    resource_id=body["resource"]["id"],
                    resource_type=phase,
                )
                ids.append(str(result.event.id))
        return ids

    def thread_done(self) -> None:
        from django.db import connection

        connection.close()  # per-thread: Django keeps one connection per thread


@dataclass
class Published:
    event_id: str
    seq: int
    scheduled: float  # time.time() the call was due (latency phase), else its start
    started: float  # time.time() just before the publish call
    finished: float


class PublishPool:
    """Threads taking (seqs, scheduled) jobs from a queue and publishing them.

    A failed publish stops the benchmark: a half-published phase measures nothing.
    """

    def __init__(self, publisher: Publisher, threads: int, phase: str) -> None:
        self.publisher = publisher
        self.phase = phase
        self.jobs: Queue[tuple[list[int], float] | None] = Queue()
        self.results: list[Published] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, daemon=True, name=f"publish-{i}")
            for i in range(threads)
        ]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                if self.errors:
                    continue  # drain quickly once something failed
                seqs, scheduled = job
                started = time.time()
                try:
                    event_ids = self.publisher.publish(seqs, self.phase)
                except Exception as exc:
                    with self._lock:
                        self.errors.append(exc)
                    continue
                finished = time.time()
                items = [
                    Published(event_id, seq, scheduled or started, started, finished)
                    for event_id, seq in zip(event_ids, seqs, strict=True)
                ]
                with self._lock:
                    self.results.extend(items)
        finally:
            self.publisher.thread_done()

    def submit(self, seqs: list[int], scheduled: float = 0.0) -> None:
        self.jobs.put((seqs, scheduled))

    def close(self, timeout: float) -> list[Published]:
        for _ in self.threads:
            self.jobs.put(None)
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(timeout=max(0.1, deadline - time.monotonic()))
            if t.is_alive():
                raise TimeoutError(f"publishing did not finish within {timeout:.0f} s")
        if self.errors:
            raise RuntimeError(f"publishing failed: {self.errors[0]!r}") from self.errors[0]
        return self.results


# --- measuring ------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty sequence."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def spread_ms(values: Sequence[float]) -> str:
    """p50/p95/p99/max of seconds, in milliseconds."""
    v = sorted(values)
    if not v:
        return "no samples"
    return (
        f"p50 {percentile(v, 50) * 1000:.1f} ms  p95 {percentile(v, 95) * 1000:.1f} ms  "
        f"p99 {percentile(v, 99) * 1000:.1f} ms  max {v[-1] * 1000:.1f} ms"
    )


@dataclass
class Arrivals:
    first: dict[tuple[str, str], float] = field(default_factory=dict)  # first receipt
    total: int = 0  # requests for this phase's deliveries, repeats included
    missing: int = 0
    unexpected: int = 0  # requests for deliveries this phase never made

    @property
    def duplicates(self) -> int:
        return self.total - len(self.first)


def collect_arrivals(
    receiver: ReceiverClient,
    offset: int,
    expected: set[tuple[str, str]],
    stall_timeout: float,
    children: Children,
) -> Arrivals:
    """Wait until every expected (event id, path) arrived or nothing moved for
    `stall_timeout`; then match what the receiver recorded since `offset`."""
    arrivals = Arrivals()
    last_count, last_change = -1, time.monotonic()
    while True:
        children.check_alive()
        count = receiver.count() - offset
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        # Counting is cheap; reading and matching only once enough is in (a
        # duplicate can make the count reach the goal with one still missing).
        stalled = time.monotonic() - last_change > stall_timeout
        if count >= len(expected) or stalled:
            arrivals = Arrivals()
            for r in receiver.since(offset):
                key = (r.event_id, r.path)
                if key not in expected:
                    arrivals.unexpected += 1
                    continue
                arrivals.total += 1
                if key not in arrivals.first:
                    arrivals.first[key] = r.at
            arrivals.missing = len(expected) - len(arrivals.first)
            if not arrivals.missing or stalled:
                return arrivals
        time.sleep(0.05)


@dataclass
class DbState:
    by_status: dict[str, int]
    attempts: int
    done_at: float  # time.time() when this state was read


def wait_db_settled(phase: str, expected: int, stall_timeout: float) -> DbState:
    """Wait until the database records all of a phase's deliveries as succeeded
    (the receiver sees a request before the worker records its outcome)."""
    from django.db.models import Count

    from deliveries.models import Delivery, DeliveryAttempt

    last, last_change = None, time.monotonic()
    while True:
        rows = (
            Delivery.objects.filter(event__resource_type=phase)
            .values_list("status")
            .annotate(n=Count("id"))
        )
        by_status = dict(rows)
        if by_status.get("succeeded", 0) >= expected:
            break
        if by_status != last:
            last, last_change = by_status, time.monotonic()
        if time.monotonic() - last_change > stall_timeout:
            break
        time.sleep(0.25)
    done_at = time.time()
    attempts = DeliveryAttempt.objects.filter(delivery__event__resource_type=phase).count()
    return DbState(by_status, attempts, done_at)


def vacuum_analyze() -> float:
    """VACUUM ANALYZE the delivery tables; returns the seconds it took.

    Run between the phases: otherwise autovacuum, woken by the throughput
    phase's tens of thousands of updates, shares the two cores with the
    latency phase and the percentiles measure it rather than the pipeline.
    """
    from django.db import connection

    from deliveries.models import Delivery, DeliveryAttempt, Event

    started = time.monotonic()
    tables = [m._meta.db_table for m in (Event, Delivery, DeliveryAttempt)]
    with connection.cursor() as cursor:  # autocommit: VACUUM refuses a transaction
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
    return time.monotonic() - started


def expected_keys(published: Sequence[Published], webhooks: int) -> set[tuple[str, str]]:
    return {(p.event_id, f"/hook/{i}") for p in published for i in range(webhooks)}


def report_checks(arrivals: Arrivals, expected: int, db: DbState) -> bool:
    ok = not arrivals.missing and db.by_status.get("succeeded", 0) == expected
    print(
        f"received {len(arrivals.first)}/{expected} deliveries: {arrivals.missing} missing, "
        f"{arrivals.duplicates} duplicates, {arrivals.unexpected} unexpected"
    )
    statuses = ", ".join(f"{s} {n}" for s, n in sorted(db.by_status.items()))
    print(f"database: {statuses or 'no deliveries'}; {db.attempts} attempts recorded")
    if not ok:
        print("!! not every delivery arrived and succeeded", flush=True)
    return ok


# --- phases ---------------------------------------------------------------------


@dataclass
class Results:
    deliveries_per_s: float | None = None
    recorded_per_s: float | None = None
    events_per_s: float | None = None
    latency: list[float] = field(default_factory=list)
    ok: bool = True


def warm_up(
    publisher: Publisher, args: argparse.Namespace, receiver: ReceiverClient, children: Children
) -> None:
    """Publish a few events first, so every pool process has its database
    connection, curl handles and receiver connections before the clock runs."""
    count = max(20, 4 * args.workers * args.concurrency)
    offset = receiver.count()
    pool = PublishPool(publisher, args.publishers, "bench-warmup")
    for seq in range(count):
        pool.submit([seq])
    published = pool.close(timeout=120)
    expected = expected_keys(published, args.webhooks)
    arrivals = collect_arrivals(receiver, offset, expected, args.stall_timeout, children)
    worker_errors = "".join(
        f"\n!! worker{i} log: {error}"
        for i in range(args.workers)
        if (error := children.last_error(f"worker{i}"))
    )
    if arrivals.missing:
        raise RuntimeError(
            f"warm-up: {arrivals.missing} of {len(expected)} deliveries missing{worker_errors}"
        )
    db = wait_db_settled("bench-warmup", len(expected), args.stall_timeout)
    if db.by_status.get("succeeded", 0) != len(expected):
        # Go on: the receiver-side figures still mean something, and the
        # phases report the database state too. But say why, loudly.
        print(f"!! warm-up: the database shows {db.by_status}, not all succeeded{worker_errors}")


def throughput_phase(
    publisher: Publisher,
    args: argparse.Namespace,
    receiver: ReceiverClient,
    children: Children,
    rss: RssSampler,
    cpu: CpuGroups,
    results: Results,
) -> None:
    n, m = args.events, args.webhooks
    per_call = f", {args.batch} events per call" if args.batch > 1 else ""
    print(
        f"\n== throughput: {n} events x {m} webhooks = {n * m} deliveries "
        f"(via {publisher.label}, {args.publishers} publishing threads{per_call})",
        flush=True,
    )
    offset = receiver.count()
    rss.phase_peak()
    cpu_before = cpu.snapshot()
    start = time.time()
    pool = PublishPool(publisher, args.publishers, "bench-throughput")
    for first in range(0, n, args.batch):
        pool.submit(list(range(first, min(n, first + args.batch))))
    published = pool.close(timeout=max(120, n / 5))
    published_at = max(p.finished for p in published)
    expected = expected_keys(published, m)
    arrivals = collect_arrivals(receiver, offset, expected, args.stall_timeout, children)
    last = max(arrivals.first.values(), default=start)
    cpu_after = cpu.snapshot()
    db = wait_db_settled("bench-throughput", len(expected), args.stall_timeout)
    memory = rss.phase_peak()

    results.events_per_s = n / (published_at - start)
    results.deliveries_per_s = len(arrivals.first) / (last - start)
    results.recorded_per_s = db.by_status.get("succeeded", 0) / (db.done_at - start)
    print(
        f"published {n} events in {published_at - start:.2f} s: "
        f"{results.events_per_s:.0f} events/s; publish call "
        f"{spread_ms([p.finished - p.started for p in published])}"
    )
    results.ok &= report_checks(arrivals, len(expected), db)
    print(
        f"last receipt at +{last - start:.2f} s; all recorded in the database by "
        f"+{db.done_at - start:.2f} s (polled every 0.25 s): "
        f"{results.recorded_per_s:.0f} deliveries/s"
    )
    print(cpu_line(cpu_before, cpu_after))
    print(cpu_per_delivery_line(cpu_before, cpu_after, len(arrivals.first)))
    print(f"deliveries/s end to end: {results.deliveries_per_s:.0f}")
    print(memory_line(memory), flush=True)


def latency_phase(
    publisher: Publisher,
    args: argparse.Namespace,
    receiver: ReceiverClient,
    children: Children,
    rss: RssSampler,
    cpu: CpuGroups,
    results: Results,
) -> None:
    m = args.webhooks
    total = max(1, round(args.rate * args.duration))
    print(
        f"\n== latency: {args.rate:g} events/s for {args.duration:g} s ({total} events) "
        f"x {m} webhooks (via {publisher.label})",
        flush=True,
    )
    offset = receiver.count()
    rss.phase_peak()
    cpu_before = cpu.snapshot()
    # Several threads, so one slow publish call does not delay the next ones
    # (the schedule, not the previous call, decides when a publish starts).
    pool = PublishPool(publisher, max(args.publishers, 2), "bench-latency")
    start = time.time() + 0.05
    for seq in range(total):
        due = start + seq / args.rate
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        pool.submit([seq], scheduled=due)
    published = pool.close(timeout=60)
    expected = expected_keys(published, m)
    arrivals = collect_arrivals(receiver, offset, expected, args.stall_timeout, children)
    cpu_after = cpu.snapshot()
    db = wait_db_settled("bench-latency", len(expected), args.stall_timeout)
    memory = rss.phase_peak()

    by_id = {p.event_id: p for p in published}
    results.latency = [at - by_id[e].started for (e, _), at in arrivals.first.items()]
    print(
        f"publish call {spread_ms([p.finished - p.started for p in published])}; "
        f"start behind schedule {spread_ms([p.started - p.scheduled for p in published])}"
    )
    # Splits the latency: the call's own time, then what the queue and the
    # worker add (negative when the request arrives before the call returns).
    after_return = [at - by_id[e].finished for (e, _), at in arrivals.first.items()]
    print(f"receipt after the publish call returned: {spread_ms(after_return)}")
    results.ok &= report_checks(arrivals, len(expected), db)
    print(cpu_line(cpu_before, cpu_after))
    print(f"latency at {args.rate:g} events/s x {m} webhooks: {spread_ms(results.latency)}")
    print(memory_line(memory), flush=True)


# --- main -----------------------------------------------------------------------


def worker_command(args: argparse.Namespace, index: int) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "webhooks_project",
        "worker",
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--pool",
        args.pool,
        "--concurrency",
        str(args.concurrency),
        "--hostname",
        # Unique to this run, so a worker left from another run is told apart.
        f"bench{index}-{os.getpid()}@%h",
    ]
    if args.fair:
        cmd += ["-O", "fair"]
    return cmd


def start_workers(args: argparse.Namespace, env: dict[str, str], children: Children) -> list[int]:
    from webhooks_project.celery import app

    pids = [
        children.start(f"worker{i}", worker_command(args, i), env).pid for i in range(args.workers)
    ]

    ours = {f"bench{i}-{os.getpid()}@{socket.gethostname()}" for i in range(args.workers)}
    answered: set[str] = set()

    def all_answer() -> bool:
        # A worker answers a broadcast ping once its consumer, and so its pool, runs.
        answered.update(name for reply in app.control.ping(timeout=0.5) for name in reply)
        return ours <= answered

    wait_until("celery workers", all_answer, timeout=90, children=children)
    # Any other worker on this Redis database (left over from an interrupted
    # run, or someone else's) would take a share of the messages and run
    # whatever code it was started with: the figures would mean nothing.
    strangers = answered - ours
    if strangers:
        raise RuntimeError(
            f"other Celery workers consume from {args.redis_url}: {sorted(strangers)}; "
            "stop them or use another --redis-url"
        )
    return pids


def start_web(args: argparse.Namespace, env: dict[str, str], children: Children) -> tuple[int, int]:
    with socket.socket() as s:  # a free port; the tiny race is harmless here
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The project's gunicorn settings (gthread workers), as in production;
    # an older checkout (--project-dir) may not have them.
    conf = args.project_dir / "webhooks_project" / "gunicorn_conf.py"
    config = ["-c", "python:webhooks_project.gunicorn_conf"] if conf.exists() else []
    proc = children.start(
        "web",
        [
            sys.executable,
            "-m",
            "gunicorn",
            *config,
            "webhooks_project.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.web_workers),
            "--log-level",
            "warning",
        ],
        env,
    )

    def healthy() -> bool:
        return requests.get(f"http://127.0.0.1:{port}/health/", timeout=2).status_code == 200

    wait_until("gunicorn", healthy, timeout=60, children=children)
    return port, proc.pid


def summary(args: argparse.Namespace, results: Results, rss: RssSampler) -> None:
    from django.conf import settings  # the children's settings: same environment

    print("\n== summary")
    print(f"command: {shlex.join(sys.orig_argv)}")
    if args.project_dir.resolve() != ROOT:
        print(f"project: {args.project_dir.resolve()}")
    web = f", gunicorn {args.web_workers} workers" if args.via == "api" else ""
    print(
        f"config: {args.workers} worker(s) x concurrency {args.concurrency} ({args.pool}"
        f"{', -O fair' if args.fair else ''}), via {args.via}{web}, "
        f"{args.publishers} publishing threads"
        f"{f' ({args.batch} events per call)' if args.batch > 1 else ''}, "
        f"WEBHOOK_BATCH_SIZE={settings.WEBHOOK_BATCH_SIZE}"
    )
    if results.deliveries_per_s is not None:
        verdict = "met" if results.deliveries_per_s >= TARGET_DELIVERIES_PER_S else "MISSED"
        print(
            f"deliveries/s end to end: {results.deliveries_per_s:.0f}   "
            f"(target >= {TARGET_DELIVERIES_PER_S}: {verdict}; "
            f"{results.recorded_per_s:.0f}/s until recorded in the database)"
        )
        print(f"publish rate: {results.events_per_s:.0f} events/s")
    if results.latency:
        v = sorted(results.latency)
        p99 = percentile(v, 99) * 1000
        verdict = "met" if p99 <= TARGET_P99_MS else "MISSED"
        print(
            f"latency at {args.rate:g} events/s x {args.webhooks} webhooks: {spread_ms(v)}"
            f"   (target p99 <= {TARGET_P99_MS:g} ms: {verdict})"
        )
    print(memory_line(rss.peak))
    print(f"all deliveries arrived and succeeded: {'yes' if results.ok else 'NO'}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    var_dir = Path(tempfile.mkdtemp(prefix="webhooks-bench-"))
    project = args.project_dir.resolve()
    children = Children(var_dir, project)
    rss: RssSampler | None = None
    lock: Any = None
    # SIGTERM unwinds like Ctrl-C, so the finally below stops every child.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        env = child_env(args, var_dir)
        busy = machine_busy()
        if busy > 0.15:
            # On a small machine anything else running takes its share off our figures.
            print(f"!! the machine is already {busy:.0%} busy: the figures will be low")
        print(
            f"setting up: {args.database_url} (recreated), {args.redis_url} (flushed)", flush=True
        )
        lock = reset_database(args.database_url)
        flush_redis(args.redis_url)
        token = bootstrap(env, project)
        setup_django(env, project)

        receiver_port = start_receiver(children, env)
        receiver = ReceiverClient(receiver_port)
        create_webhooks(args.webhooks, receiver_port)
        worker_pids = start_workers(args, env, children)
        roots: dict[str, list[int]] = {
            "worker": worker_pids,
            "receiver": [children.procs["receiver"].pid],
        }
        publisher: Publisher
        if args.via == "api":
            web_port, web_pid = start_web(args, env, children)
            roots["web"] = [web_pid]
            publisher = ApiPublisher(web_port, token)
        else:
            publisher = PythonPublisher()
        cpu = CpuGroups(roots)
        rss = RssSampler(worker_pids)
        rss.start()
        warm_up(publisher, args, receiver, children)
        print(
            f"ready: receiver on :{receiver_port}, {args.webhooks} webhooks, logs in {var_dir}"
            + ("" if args.keep_var else " (removed at exit; --keep-var keeps them)")
        )

        results = Results()
        if not args.skip_throughput:
            throughput_phase(publisher, args, receiver, children, rss, cpu, results)
        if not args.skip_latency:
            if not args.skip_throughput:
                print(f"\n(vacuumed and analysed the tables in {vacuum_analyze():.1f} s)")
            latency_phase(publisher, args, receiver, children, rss, cpu, results)
        summary(args, results, rss)
        return 0 if results.ok else 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        # Children first: nothing below may keep them running after we exit.
        children.stop_all()
        if rss is not None:
            rss.stop()
        with suppress(Exception):
            from django.db import connections

            connections.close_all()
        if lock is not None:
            lock.close()  # releases the advisory lock
        if args.keep_var:
            print(f"kept {var_dir}")
        else:
            shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
