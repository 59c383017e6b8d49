"""Endpoint isolation, measured: do bad receivers slow the healthy ones down?

    python bench/isolation.py [--scenarios A,B] [--phase-seconds 30] [--drain 30]
                              [--database-url URL] [--redis-url URL] ...

Starts, on 127.0.0.1 only: a private redis-server (unless --redis-url names
one), ONE Celery worker of --concurrency 2 prefork processes with default
settings (WEBHOOK_TIMEOUT 10 s; only WEBHOOK_ALLOW_PRIVATE_IPS=1 so that it may
reach 127.0.0.1, plus --env), the fast receiver for healthy webhooks
(bench/receiver.py) and the bad ones (bench/hostile.py). Events are published
from this process through deliveries.publishing.event_publish, at a fixed
rate, from several threads.

Each scenario runs two phases on the same event stream: "baseline", with the
bad webhooks disabled, then "bad", with them enabled:
  A  10 healthy + 2 hanging webhooks (accept, never answer), global scope, 30 events/s;
  B  200 webhooks, one account each, local scope, each event for one account in
     turn (as tenants use it): 20 hanging, 20 answering 500, 200 events/s;
  C  10 healthy + 2 slow webhooks (answer after --slow-seconds), 30 events/s.
Before each scenario the worker is restarted and the Redis database and the
event, delivery and webhook tables are emptied, so no scenario inherits
another's backlog.

Per phase it prints: healthy publish-to-receipt percentiles (receipt time
taken at the receiver, from just before the publish call; a delivery still
missing when the bound runs out counts as slower than any received), healthy
throughput while publishing against the offered rate, healthy deliveries
received within --drain s of the last publish, what the bad endpoints held
(their deliveries in flight, the worker's claims stuck on one of them, the
connections the hanging receiver holds open; sampled every --sample-interval
s) and CPU seconds by part, with "other" for everything else on the machine.
Then a verdict per scenario against the targets of issue 9:
  A, C  healthy p99 <= 1.5 x baseline and healthy throughput >= 95 % of offered;
  B     healthy p99 <= 2 x baseline and no healthy delivery lost.
The exit status is 1 if a target is missed, 2 if the run could not complete.

The database in --database-url (or $BENCH_ISO_DATABASE_URL) is dropped and
created again; a --redis-url database is flushed: point them at nothing you
want to keep. Everything the script starts is stopped when it exits, on
Ctrl-C and on error too.
"""

from __future__ import annotations

import argparse
import json
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
CLK_TCK = os.sysconf("SC_CLK_TCK")
BAD_MODES = ("hang", "fail", "slow")


# --- scenarios and verdicts (pure) ----------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    healthy: int
    bad: dict[str, int]  # mode -> how many webhooks
    rate: float  # events per second
    local: bool  # one account per webhook, each event for one account in turn
    p99_factor: float  # target: bad-phase healthy p99 <= factor x baseline's
    min_throughput: float | None  # target: healthy received while publishing / offered
    lossless: bool  # target: every healthy delivery received within the bound

    @property
    def webhooks(self) -> int:
        return self.healthy + sum(self.bad.values())

    def layout(self) -> list[str]:
        """The mode of each webhook by index ("ok" or a bad mode), the bad ones
        spread evenly among the healthy and their modes interleaved."""
        left = {m: self.bad.get(m, 0) for m in BAD_MODES}
        order: list[str] = []  # hang, fail, hang, fail... rather than all hangs first
        while any(left.values()):
            for m in BAD_MODES:
                if left[m]:
                    order.append(m)
                    left[m] -= 1
        out = ["ok"] * self.webhooks
        if order:
            stride = self.webhooks / len(order)
            for k, mode in enumerate(order):
                out[math.floor(k * stride)] = mode
        return out


def scenarios(args: argparse.Namespace) -> dict[str, Scenario]:
    return {
        "A": Scenario(
            "A",
            f"10 healthy + 2 hanging webhooks, global scope, {args.rate_a:g} events/s",
            healthy=10,
            bad={"hang": 2},
            rate=args.rate_a,
            local=False,
            p99_factor=1.5,
            min_throughput=0.95,
            lossless=False,
        ),
        "B": Scenario(
            "B",
            f"200 local webhooks (one account each), 20 hanging + 20 answering 500, "
            f"{args.rate_b:g} events/s, each for one account",
            healthy=160,
            bad={"hang": 20, "fail": 20},
            rate=args.rate_b,
            local=True,
            p99_factor=2.0,
            min_throughput=None,
            lossless=True,
        ),
        "C": Scenario(
            "C",
            f"10 healthy + 2 slow webhooks (answer after {args.slow_seconds:g} s), "
            f"global scope, {args.rate_c:g} events/s",
            healthy=10,
            bad={"slow": 2},
            rate=args.rate_c,
            local=False,
            p99_factor=1.5,
            min_throughput=0.95,
            lossless=False,
        ),
    }


def percentile(sorted_values: Sequence[float], pct: float, *, missing: int = 0) -> float | None:
    """Nearest-rank percentile of sorted values, with `missing` more values
    known only to be larger than all of them (deliveries that never arrived
    within the bound). None when the rank falls among the missing ones."""
    total = len(sorted_values) + missing
    if total == 0:
        return None
    rank = max(1, math.ceil(pct / 100 * total))
    return sorted_values[rank - 1] if rank <= len(sorted_values) else None


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool


def verdict(
    *,
    baseline_p99: float | None,
    p99: float | None,
    p99_factor: float,
    throughput_ratio: float,
    min_throughput: float | None,
    missing: int,
    lossless: bool,
) -> list[Check]:
    """The targets of one scenario, each met or not. A p99 of None (beyond the
    bound: too many deliveries missing) never meets a target; nor does a
    baseline without one (the comparison would mean nothing)."""
    checks = []
    if baseline_p99 is None or p99 is None:
        shown = "beyond the bound" if p99 is None else f"{p99 * 1000:.1f} ms"
        base = "beyond the bound" if baseline_p99 is None else f"{baseline_p99 * 1000:.1f} ms"
        checks.append(
            Check(f"healthy p99 {shown} (target <= {p99_factor:g} x baseline {base})", False)
        )
    else:
        ratio = p99 / baseline_p99 if baseline_p99 > 0 else math.inf
        checks.append(
            Check(
                f"healthy p99 {p99 * 1000:.1f} ms = {ratio:.2f} x baseline "
                f"{baseline_p99 * 1000:.1f} ms (target <= {p99_factor:g} x)",
                ratio <= p99_factor,
            )
        )
    if min_throughput is not None:
        checks.append(
            Check(
                f"healthy throughput {throughput_ratio:.1%} of offered "
                f"(target >= {min_throughput:.0%})",
                throughput_ratio >= min_throughput,
            )
        )
    if lossless:
        checks.append(Check(f"healthy deliveries lost: {missing} (target 0)", missing == 0))
    return checks


def spread_ms(values: Sequence[float], missing: int = 0) -> str:
    v = sorted(values)

    def show(pct: float) -> str:
        x = percentile(v, pct, missing=missing)
        return "beyond bound" if x is None else f"{x * 1000:.1f} ms"

    if not v and not missing:
        return "no samples"
    top = f"{v[-1] * 1000:.1f} ms" if v else "-"
    return f"p50 {show(50)}  p95 {show(95)}  p99 {show(99)}  max{' received' * bool(missing)} {top}"


# --- options --------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--scenarios", default="A,B", help="comma-separated, from A, B, C")
    p.add_argument("--phase-seconds", type=float, default=30, help="publishing time per phase")
    p.add_argument(
        "--drain",
        type=float,
        default=30,
        help="bound: healthy deliveries must arrive within this long after the last publish",
    )
    p.add_argument("--rate-a", type=float, default=30, help="events/s in scenario A")
    p.add_argument("--rate-b", type=float, default=200, help="events/s in scenario B")
    p.add_argument("--rate-c", type=float, default=30, help="events/s in scenario C")
    p.add_argument("--slow-seconds", type=float, default=2, help="slow receivers' delay")
    p.add_argument("--concurrency", type=int, default=2, help="pool processes of the one worker")
    p.add_argument("--publishers", type=int, default=8, help="publishing threads")
    p.add_argument("--sample-interval", type=float, default=0.5, help="seconds between samples")
    p.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_ISO_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_iso"
        ),
        help="dropped and created again at start",
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_ISO_REDIS_URL", ""),
        help="flushed before each scenario; empty: start a private redis-server",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for the worker and this process (repeatable)",
    )
    p.add_argument("--keep-var", action="store_true", help="keep the temporary logs")
    args = p.parse_args(argv)
    known = set(scenarios(args))
    args.scenario_names = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    if not args.scenario_names or not set(args.scenario_names) <= known:
        p.error(f"--scenarios: choose from {', '.join(sorted(known))}")
    for name in ("phase_seconds", "drain", "rate_a", "rate_b", "rate_c", "sample_interval"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.concurrency < 1 or args.publishers < 1:
        p.error("--concurrency and --publishers must be at least 1")
    for item in args.env:
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", item):
            p.error(f"--env {item!r}: use NAME=VALUE")
    for url in filter(None, (args.database_url, args.redis_url)):
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            p.error(f"{url}: the benchmark only talks to 127.0.0.1")
    return args


# --- child processes ------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: SIGTERM when this script dies, even by SIGKILL."""
    import ctypes

    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Children:
    """What this script started, each in its own session (process group), so
    that Ctrl-C reaches only us and a worker's pool goes with it."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, cmd: list[str], env: dict[str, str], *, pipe: bool = False
    ) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
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

    def first_line(self, name: str, timeout: float = 15) -> str:
        proc = self.procs[name]
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=timeout):
                raise TimeoutError(f"{name} did not start\n{self.log_tail(name)}")
        return proc.stdout.readline().decode()

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
        return "\n".join(f"  {name}| {line}" for line in text)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}\n{self.log_tail(name)}")

    def stop(self, name: str, timeout: float = 10) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
        # Whatever is left of the group (a pool process still in a hung request).
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(children: Children, var_dir: Path) -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("no redis-server on PATH: give --redis-url")
    port = free_port()
    cmd = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    cmd += ["--appendonly", "no", "--dir", str(var_dir)]
    children.start("redis", cmd, dict(os.environ))
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    def answers() -> bool:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())

    wait_until("redis-server", answers, timeout=15, children=children)
    return url


def child_env(args: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="webhooks_project.settings",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        WEBHOOK_ALLOW_PRIVATE_IPS="1",
        VAR_DIR=str(var_dir),
        LOG_LEVEL="WARNING",
        DEBUG="0",
        PYTHONUNBUFFERED="1",
    )
    for item in args.env:
        name, _, value = item.partition("=")
        env[name] = value
    return env


def worker_command(args: argparse.Namespace, hostname: str) -> list[str]:
    return [
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
        "prefork",
        "--concurrency",
        str(args.concurrency),
        "--hostname",
        hostname,
    ]


def start_worker(args: argparse.Namespace, env: dict[str, str], children: Children) -> int:
    from webhooks_project.celery import app

    name = f"iso-{os.getpid()}-{time.monotonic_ns()}"
    proc = children.start("worker", worker_command(args, f"{name}@%h"), env)
    ours = f"{name}@{socket.gethostname()}"

    def answers() -> bool:
        return any(ours in reply for reply in app.control.ping(timeout=0.5))

    wait_until("celery worker", answers, timeout=90, children=children)
    return proc.pid


# --- receivers --------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    event_id: str
    path: str
    at: float  # time.time() at the receiver


class Receivers:
    """The healthy receiver (bench/receiver.py) and the bad ones (bench/hostile.py)."""

    def __init__(self, children: Children, env: dict[str, str], slow_seconds: float) -> None:
        children.start("receiver", [sys.executable, str(BENCH_DIR / "receiver.py")], env, pipe=True)
        line = children.first_line("receiver")
        if not line.startswith("PORT "):
            raise RuntimeError(f"receiver said {line!r}\n{children.log_tail('receiver')}")
        self.healthy_port = int(line.split()[1])
        cmd = [sys.executable, str(BENCH_DIR / "hostile.py"), "--slow-seconds", str(slow_seconds)]
        children.start("hostile", cmd, env, pipe=True)
        line = children.first_line("hostile")
        if not line.startswith("PORTS "):
            raise RuntimeError(f"hostile receiver said {line!r}\n{children.log_tail('hostile')}")
        self.ports = {k: int(v) for k, v in (p.split("=") for p in line.split()[1:])}
        self.pids = [children.procs["receiver"].pid, children.procs["hostile"].pid]
        self.session = requests.Session()
        self.lock = threading.Lock()

    def url(self, mode: str, index: int) -> str:
        if mode == "ok":
            return f"http://127.0.0.1:{self.healthy_port}/hook/{index}"
        return f"http://127.0.0.1:{self.ports[mode]}/{mode}/{index}"

    def count(self) -> int:
        with self.lock:
            base = f"http://127.0.0.1:{self.healthy_port}"
            return int(self.session.get(f"{base}/_bench/count", timeout=10).text)

    def since(self, offset: int) -> list[Receipt]:
        with self.lock:
            base = f"http://127.0.0.1:{self.healthy_port}"
            text = self.session.get(f"{base}/_bench/records?since={offset}", timeout=60).text
        out = []
        for line in text.splitlines():
            event_id, path, at = line.split("\t")
            out.append(Receipt(event_id, path, float(at)))
        return out

    def hostile_stats(self) -> dict[str, dict[str, int]]:
        with self.lock:
            url = f"http://127.0.0.1:{self.ports['control']}/_bench/stats"
            return json.loads(self.session.get(url, timeout=10).text)


# --- CPU --------------------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds incl. reaped children)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        table[int(entry)] = (int(fields[1]), comm, sum(int(f) for f in fields[11:15]) / CLK_TCK)
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


class Cpu:
    """CPU seconds by part: our process trees, the PostgreSQL backends of our
    database (by their process title; backends of other databases are someone
    else's), this process, and the whole machine from /proc/stat."""

    def __init__(self, database: str) -> None:
        self.roots: dict[str, list[int]] = {}
        self.title = f" {database} "

    def snapshot(self) -> dict[str, float]:
        table = _proc_table()
        out: dict[str, float] = Counter()
        for group, roots in self.roots.items():
            for pid in _tree(table, roots):
                out[group] += table[pid][2]
        out["bench"] = table[os.getpid()][2]
        for pid, (_, comm, cpu) in table.items():
            if comm.startswith("postgres"):
                with suppress(OSError):
                    if self.title in Path(f"/proc/{pid}/cmdline").read_text():
                        out["postgres"] += cpu
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        out["machine"] = (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLK_TCK
        out["wall"] = time.monotonic()
        return out

    @staticmethod
    def line(before: dict[str, float], after: dict[str, float]) -> tuple[str, float]:
        """The CPU line of a phase, and its "other" core-seconds."""
        groups = ["worker", "receivers", "redis", "postgres", "bench"]
        used = {g: after.get(g, 0) - before.get(g, 0) for g in groups}
        busy = after["machine"] - before["machine"]
        other = max(0.0, busy - sum(used.values()))
        wall = after["wall"] - before["wall"]
        parts = "  ".join(f"{g} {v:.1f}" for g, v in used.items())
        cores = os.cpu_count() or 1
        return (
            f"CPU seconds: {parts}  other {other:.1f}  (machine busy {busy:.1f} of "
            f"{wall * cores:.1f} core-seconds; other = {other / max(wall, 1e-9):.2f} cores)",
            other,
        )


# --- the world: webhooks, accounts ----------------------------------------------


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    import django

    django.setup()


def empty_tables() -> None:
    """Events, deliveries, attempts and webhooks gone: a scenario starts clean."""
    from django.db import connection

    from deliveries.models import Delivery, DeliveryAttempt, Event
    from hooks.models import Webhook

    tables = [m._meta.db_table for m in (DeliveryAttempt, Delivery, Event, Webhook)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


@dataclass
class World:
    scenario: Scenario
    modes: list[str]  # per webhook index
    webhook_ids: list[Any]
    accounts: list[Any]  # per webhook index (local scope), else empty

    @property
    def bad_ids(self) -> set[Any]:
        return {w for w, m in zip(self.webhook_ids, self.modes, strict=True) if m != "ok"}

    def set_bad_enabled(self, enabled: bool) -> None:
        from hooks.models import Webhook

        Webhook.objects.filter(id__in=self.bad_ids).update(enabled=enabled)

    def healthy_paths(self, seq: int) -> list[str]:
        """The healthy receiver's paths that event number `seq` must reach."""
        if self.scenario.local:
            i = seq % len(self.modes)
            return [f"/hook/{i}"] if self.modes[i] == "ok" else []
        return [f"/hook/{i}" for i, m in enumerate(self.modes) if m == "ok"]

    def account_for(self, seq: int) -> Any:
        return self.accounts[seq % len(self.accounts)] if self.accounts else None


def build_world(scenario: Scenario, receivers: Receivers) -> World:
    from hooks.models import Account, Scope
    from hooks.services import account_create, root_domain, webhook_create

    root = root_domain()
    modes = scenario.layout()
    owner = Account.objects.filter(name="bench-owner", domain=root).first()
    owner = owner or account_create(name="bench-owner", domain=root)
    accounts = []
    if scenario.local:
        for i in range(len(modes)):
            name = f"bench-tenant-{i}"
            account = Account.objects.filter(name=name, domain=root).first()
            accounts.append(account or account_create(name=name, domain=root))
        # The publisher reads account.domain for every event: loaded once here.
        accounts = list(
            Account.objects.select_related("domain").filter(id__in=[a.id for a in accounts])
        )
        accounts.sort(key=lambda a: int(a.name.rsplit("-", 1)[1]))
    ids = []
    for i, mode in enumerate(modes):
        webhook = webhook_create(
            name=f"iso-{scenario.name}-{mode}-{i}",
            payload_url=receivers.url(mode, i),
            account=accounts[i] if scenario.local else owner,
            scope=Scope.LOCAL if scenario.local else Scope.GLOBAL,
            event_types=[EVENT_TYPE],
            enabled=mode == "ok",  # the bad ones wait for the second phase
        )
        ids.append(webhook.id)
    return World(scenario, modes, ids, accounts)


# --- publishing -------------------------------------------------------------------


@dataclass
class Published:
    event_id: str
    seq: int
    scheduled: float
    started: float  # time.time() just before the publish call
    finished: float


class PublishPool:
    """Threads publishing events from a queue; the first error stops the phase."""

    def __init__(self, world: World, threads: int, label: str) -> None:
        self.world = world
        self.label = label
        self.jobs: Queue[tuple[int, float] | None] = Queue()
        self.results: list[Published] = []
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _publish(self, seq: int) -> str:
        from deliveries.publishing import event_publish

        result = event_publish(
            type=EVENT_TYPE,
            data={"seq": seq, "vm": {"name": f"bench-vm-{seq}", "state": "Running"}},
            account=self.world.account_for(seq),
            resource_id=f"vm-{seq}",
            resource_type=self.label,
        )
        return str(result.event.id)

    def _run(self) -> None:
        from django.db import connection

        try:
            while (job := self.jobs.get()) is not None:
                if self.errors:
                    continue
                seq, scheduled = job
                started = time.time()
                try:
                    event_id = self._publish(seq)
                except Exception as exc:
                    with self.lock:
                        self.errors.append(exc)
                    continue
                with self.lock:
                    self.results.append(Published(event_id, seq, scheduled, started, time.time()))
        finally:
            connection.close()

    def run_schedule(self, rate: float, seconds: float, first_seq: int = 0) -> list[Published]:
        total = max(1, round(rate * seconds))
        start = time.time() + 0.05
        for k in range(total):
            due = start + k / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            if self.errors:
                break
            self.jobs.put((first_seq + k, due))
        for _ in self.threads:
            self.jobs.put(None)
        for t in self.threads:
            t.join(timeout=120)
        if self.errors:
            raise RuntimeError(f"publishing failed: {self.errors[0]!r}") from self.errors[0]
        return sorted(self.results, key=lambda p: p.seq)


# --- sampling what the bad endpoints hold ---------------------------------------


@dataclass
class Sample:
    bad_in_flight: int  # deliveries of bad webhooks in status sending
    healthy_in_flight: int
    claims: int  # distinct claim tokens among the sending rows: batches in progress
    claims_on_bad: int  # ... of which hold at least one bad delivery
    held: dict[str, int]  # hostile receiver: connections open now, per mode
    peak: dict[str, int]  # ... most at once since the previous sample


class Sampler(threading.Thread):
    def __init__(self, world: World, receivers: Receivers, interval: float) -> None:
        super().__init__(daemon=True, name="sampler")
        self.bad = world.bad_ids
        self.receivers = receivers
        self.interval = interval
        self.samples: list[Sample] = []
        self.done = threading.Event()
        self.errors: list[BaseException] = []

    def sample(self) -> Sample:
        from deliveries.models import Delivery, DeliveryStatus

        rows = list(
            Delivery.objects.filter(status=DeliveryStatus.SENDING).values_list(
                "webhook_id", "claim_token"
            )
        )
        stats = self.receivers.hostile_stats()
        return Sample(
            bad_in_flight=sum(1 for w, _ in rows if w in self.bad),
            healthy_in_flight=sum(1 for w, _ in rows if w not in self.bad),
            claims=len({t for _, t in rows}),
            claims_on_bad=len({t for w, t in rows if w in self.bad}),
            held={m: stats[m]["held"] for m in BAD_MODES},
            peak={m: stats[m]["peak"] for m in BAD_MODES},
        )

    def run(self) -> None:
        from django.db import connection

        try:
            self.receivers.hostile_stats()  # resets the peaks
            while not self.done.wait(self.interval):
                try:
                    self.samples.append(self.sample())
                except Exception as exc:  # a sample lost is not a phase lost
                    self.errors.append(exc)
        finally:
            connection.close()

    def stop(self) -> list[Sample]:
        self.done.set()
        self.join(timeout=10)
        return self.samples


def held_lines(samples: Sequence[Sample], scenario: Scenario, concurrency: int) -> list[str]:
    if not samples:
        return ["worker slots: no samples"]

    def mm(values: Sequence[int]) -> str:
        return f"mean {sum(values) / len(values):.1f} max {max(values)}"

    lines = [
        f"worker slots ({len(samples)} samples): claims (batches) in flight holding a bad "
        f"delivery {mm([s.claims_on_bad for s in samples])} of {concurrency} pool processes; "
        f"all claims in flight {mm([s.claims for s in samples])}",
        f"deliveries in flight (sending): bad {mm([s.bad_in_flight for s in samples])}, "
        f"healthy {mm([s.healthy_in_flight for s in samples])}",
    ]
    for mode in BAD_MODES:
        if scenario.bad.get(mode):
            lines.append(
                f"{mode} receiver: connections open {mm([s.held[mode] for s in samples])}, "
                f"most at once {max(s.peak[mode] for s in samples)}"
            )
    return lines


# --- one phase ----------------------------------------------------------------------


@dataclass
class PhaseResult:
    label: str
    p50: float | None
    p99: float | None
    received: int
    expected: int
    offered_per_s: float
    throughput_per_s: float
    other_cpu: float
    claims_on_bad_max: int = 0

    @property
    def missing(self) -> int:
        return self.expected - self.received

    @property
    def throughput_ratio(self) -> float:
        return self.throughput_per_s / self.offered_per_s if self.offered_per_s else 0.0


def db_state_line(label: str, world: World) -> str:
    from django.db.models import Count

    from deliveries.models import Delivery, DeliveryAttempt

    rows = (
        Delivery.objects.filter(event__resource_type=label)
        .values_list("webhook_id", "status")
        .annotate(n=Count("id"))
    )
    healthy: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    for webhook_id, status, n in rows:
        (bad if webhook_id in world.bad_ids else healthy)[status] += n
    attempts = DeliveryAttempt.objects.filter(delivery__event__resource_type=label).count()

    def show(c: Counter[str]) -> str:
        return ", ".join(f"{s} {n}" for s, n in sorted(c.items())) or "none"

    return f"database: healthy {show(healthy)}; bad {show(bad)}; {attempts} attempts recorded"


def run_phase(
    world: World,
    phase: str,
    args: argparse.Namespace,
    receivers: Receivers,
    children: Children,
    cpu: Cpu,
    first_seq: int,
) -> PhaseResult:
    scenario = world.scenario
    label = f"iso-{scenario.name}-{phase}"
    with_bad = phase == "bad"
    what = "bad webhooks enabled" if with_bad else "bad webhooks disabled"
    print(
        f"\n== {scenario.name}/{phase}: {what}; {scenario.rate:g} events/s for "
        f"{args.phase_seconds:g} s",
        flush=True,
    )
    world.set_bad_enabled(with_bad)
    offset = receivers.count()
    before_stats = receivers.hostile_stats()
    sampler = Sampler(world, receivers, args.sample_interval)
    cpu_before = cpu.snapshot()
    sampler.start()
    pool = PublishPool(world, args.publishers, label)
    published = pool.run_schedule(scenario.rate, args.phase_seconds, first_seq)
    start = min(p.scheduled for p in published)
    end = max(p.finished for p in published)
    expected = {(p.event_id, path) for p in published for path in world.healthy_paths(p.seq)}
    deadline = end + args.drain
    while receivers.count() - offset < len(expected) and time.time() < deadline:
        children.check_alive()
        time.sleep(0.1)
    samples = sampler.stop()
    cpu_after = cpu.snapshot()
    after_stats = receivers.hostile_stats()

    first: dict[tuple[str, str], float] = {}
    total = late = unexpected = 0
    for r in receivers.since(offset):
        key = (r.event_id, r.path)
        if key not in expected:
            unexpected += 1
        elif r.at > deadline:
            late += 1
        else:
            total += 1
            first.setdefault(key, r.at)
    by_id = {p.event_id: p for p in published}
    latencies = sorted(at - by_id[e].started for (e, _), at in first.items())
    missing = len(expected) - len(first)
    window = max(end - start, 1e-9)
    during = sum(1 for at in first.values() if at <= end)
    result = PhaseResult(
        label=f"{scenario.name}/{phase}",
        p50=percentile(latencies, 50, missing=missing),
        p99=percentile(latencies, 99, missing=missing),
        received=len(first),
        expected=len(expected),
        offered_per_s=len(expected) / window,
        throughput_per_s=during / window,
        other_cpu=0.0,
        claims_on_bad_max=max((s.claims_on_bad for s in samples), default=0),
    )
    behind = sorted(p.started - p.scheduled for p in published)
    calls = sorted(p.finished - p.started for p in published)
    print(
        f"published {len(published)} events in {end - start:.1f} s: {len(expected)} healthy "
        f"deliveries offered, {result.offered_per_s:.1f}/s; publish call {spread_ms(calls)}; "
        f"start behind schedule p99 {(percentile(behind, 99) or 0) * 1000:.1f} ms"
    )
    print(
        f"healthy received within {args.drain:g} s of the last publish: "
        f"{len(first)}/{len(expected)} ({missing} missing, {total - len(first)} duplicates, "
        f"{late} after the bound, {unexpected} unexpected)"
    )
    print(f"healthy publish-to-receipt: {spread_ms(latencies, missing)}")
    print(
        f"healthy throughput while publishing: {result.throughput_per_s:.1f}/s of "
        f"{result.offered_per_s:.1f}/s offered ({result.throughput_ratio:.1%})"
    )
    if with_bad:
        counts = ", ".join(
            f"{m} {after_stats[m]['requests'] - before_stats[m]['requests']} requests "
            f"({after_stats[m]['accepted'] - before_stats[m]['accepted']} connections)"
            for m in BAD_MODES
            if scenario.bad.get(m)
        )
        print(f"bad receivers got: {counts}")
        for line in held_lines(samples, scenario, args.concurrency):
            print(line)
        if sampler.errors:
            print(f"({len(sampler.errors)} samples failed: {sampler.errors[0]!r})")
    print(db_state_line(label, world))
    line, result.other_cpu = Cpu.line(cpu_before, cpu_after)
    print(line, flush=True)
    return result


def warm_up(world: World, receivers: Receivers, children: Children) -> None:
    """A few events first, so each pool process has its connections."""
    offset = receivers.count()
    pool = PublishPool(world, 4, f"iso-{world.scenario.name}-warmup")
    published = pool.run_schedule(rate=20, seconds=1, first_seq=0)
    want = sum(len(world.healthy_paths(p.seq)) for p in published)
    wait_until("warm-up", lambda: receivers.count() - offset >= want, 60, children)


# --- one scenario -------------------------------------------------------------------


@dataclass
class ScenarioResult:
    scenario: Scenario
    phases: list[PhaseResult] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


def run_scenario(
    scenario: Scenario,
    args: argparse.Namespace,
    env: dict[str, str],
    receivers: Receivers,
    children: Children,
    cpu: Cpu,
) -> ScenarioResult:
    import redis

    print(f"\n==== scenario {scenario.name}: {scenario.title}", flush=True)
    children.stop("worker")
    redis.Redis.from_url(args.redis_url, socket_timeout=10).flushdb()
    empty_tables()
    world = build_world(scenario, receivers)
    cpu.roots["worker"] = [start_worker(args, env, children)]
    warm_up(world, receivers, children)
    outcome = ScenarioResult(scenario)
    seq = 0
    for phase in ("baseline", "bad"):
        outcome.phases.append(run_phase(world, phase, args, receivers, children, cpu, seq))
        seq += round(scenario.rate * args.phase_seconds) + 1000
    base, bad = outcome.phases
    outcome.checks = verdict(
        baseline_p99=base.p99,
        p99=bad.p99,
        p99_factor=scenario.p99_factor,
        throughput_ratio=bad.throughput_ratio,
        min_throughput=scenario.min_throughput,
        missing=bad.missing,
        lossless=scenario.lossless,
    )
    print(f"\n== {scenario.name} verdict")
    for check in outcome.checks:
        print(f"{'PASS' if check.ok else 'FAIL'}  {check.what}")
    children.stop("worker")  # now: its hung requests must not run into the next scenario
    return outcome


def summary(results: Sequence[ScenarioResult], args: argparse.Namespace) -> bool:
    from django.conf import settings

    print("\n==== summary")
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(
        f"config: 1 worker x {args.concurrency} prefork processes, WEBHOOK_TIMEOUT="
        f"{settings.WEBHOOK_TIMEOUT:g} s, WEBHOOK_BATCH_SIZE={settings.WEBHOOK_BATCH_SIZE}, "
        f"phases of {args.phase_seconds:g} s, bound {args.drain:g} s after the last publish"
    )

    def ms(x: float | None) -> str:
        return "beyond bound" if x is None else f"{x * 1000:.1f} ms"

    ok = True
    for r in results:
        for p in r.phases:
            print(
                f"{p.label:12} healthy p50 {ms(p.p50)}, p99 {ms(p.p99)}; "
                f"{p.throughput_per_s:.1f}/s of {p.offered_per_s:.1f}/s offered "
                f"({p.throughput_ratio:.1%}); received {p.received}/{p.expected}; "
                f"other CPU {p.other_cpu:.1f} core-s"
            )
        verdicts = "; ".join(f"{'PASS' if c.ok else 'FAIL'} {c.what}" for c in r.checks)
        print(f"{r.scenario.name} verdict: {verdicts}")
        ok &= all(c.ok for c in r.checks)
    print(f"all targets met: {'yes' if ok else 'NO'}", flush=True)
    return ok


# --- main ---------------------------------------------------------------------------


def migrate(env: dict[str, str]) -> None:
    cmd = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"migrate failed:\n{done.stdout}\n{done.stderr}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    var_dir = Path(tempfile.mkdtemp(prefix="webhooks-iso-"))
    children = Children(var_dir)
    lock: Any = None
    # Ctrl-C raises KeyboardInterrupt even when started in the background,
    # where the shell has SIGINT ignored; SIGTERM unwinds the same way. Either
    # way the finally below stops every child.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        busy = machine_busy()
        print(f"machine busy before start: {busy:.0%} of {os.cpu_count()} cores", flush=True)
        if not args.redis_url:
            args.redis_url = start_redis(children, var_dir)
        print(f"setting up: {args.database_url} (recreated), {args.redis_url}", flush=True)
        lock, name = lock_database(args.database_url)
        recreate_database(lock, name)
        env = child_env(args, var_dir)
        migrate(env)
        setup_django(env)
        cpu = Cpu(name)
        if "redis" in children.procs:
            cpu.roots["redis"] = [children.procs["redis"].pid]
        receivers = Receivers(children, env, args.slow_seconds)
        cpu.roots["receivers"] = receivers.pids
        table = scenarios(args)
        results = [
            run_scenario(table[n], args, env, receivers, children, cpu) for n in args.scenario_names
        ]
        return 0 if summary(results, args) else 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"\n!! {exc!r}", file=sys.stderr)
        import traceback

        traceback.print_exc()
        return 2
    finally:
        children.stop_all()
        with suppress(Exception):
            from django.db import connections

            connections.close_all()
        if lock is not None:
            lock.close()
        if args.keep_var:
            print(f"kept {var_dir}")
        else:
            shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
