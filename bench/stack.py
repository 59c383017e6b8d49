"""The system under test: a fresh database and Redis, the receiver, Celery
workers and (--via api) gunicorn, started on 127.0.0.1 and stopped again.
`running` builds bench/run.py's; bench/isolation_stack.py builds its own from
the same pieces (`scratch`, `reset_database`, `start_redis`, `start_workers`...).

The commands here are not shared with webhooks_project/run.py (`make run`) on
purpose: the benchmark drives any checkout (--project-dir), older ones
included, so it cannot import a builder from the project; and its flags
differ (no gossip, mingle or heartbeat; a pool and size from the command
line; a hostname unique to the run; warnings only).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.accounting import CpuGroups, RssSampler, descendants, proc_table
from bench.common import lock_database, recreate_database, setup_django
from bench.context import Bench
from bench.procs import Children, run_checked
from bench.publishers import EVENT_TYPE, ApiPublisher, Publisher, PythonPublisher
from bench.receipts import start_receiver


@dataclass
class Scratch:
    """A run's temporary VAR_DIR, the children started in it, and what else
    to undo on the way out (after the children are stopped)."""

    var_dir: Path
    children: Children
    cleanup: ExitStack


@contextmanager
def scratch(prefix: str, project: Path, *, keep: bool) -> Iterator[Scratch]:
    """A temporary VAR_DIR for the children of a run; on the way out stop
    every child, then undo what was registered in `cleanup` (samplers, the
    database's lock), close Django's connections and remove the logs (unless
    `keep`)."""
    var_dir = Path(tempfile.mkdtemp(prefix=prefix))
    children = Children(var_dir, project)
    try:
        with ExitStack() as cleanup:
            try:
                yield Scratch(var_dir, children, cleanup)
            finally:
                # Children first: nothing below may keep them running after we exit.
                children.stop_all()
    finally:
        with suppress(Exception):
            from django.db import connections

            connections.close_all()
        if keep:
            print(f"kept {var_dir}")
        else:
            shutil.rmtree(var_dir, ignore_errors=True)


@contextmanager
def running(args: argparse.Namespace) -> Iterator[Bench]:
    """Start everything for `args`; on the way out stop every child, release
    the database's lock and remove the logs (unless --keep-var)."""
    project = args.project_dir.resolve()
    with scratch("webhooks-bench-", project, keep=args.keep_var) as run:
        children = run.children
        env = child_env(args, run.var_dir)
        print(
            f"setting up: {args.database_url} (recreated), {args.redis_url} (flushed)", flush=True
        )
        run.cleanup.callback(reset_database(args.database_url).close)  # releases the lock
        flush_redis(args.redis_url)
        token = bootstrap(env, project)
        setup_django(env, project)

        receiver = start_receiver(children, env)
        create_webhooks(args.webhooks, receiver.port)
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
        rss = RssSampler(worker_pids)
        rss.start()
        run.cleanup.callback(rss.stop)
        yield Bench(
            args=args,
            var_dir=run.var_dir,
            children=children,
            receiver=receiver,
            publisher=publisher,
            cpu=CpuGroups(roots),
            rss=rss,
        )


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


def start_redis(children: Children, var_dir: Path) -> str:
    """A private redis-server on a free port, without persistence; its URL."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("no redis-server on PATH: give --redis-url")
    port = free_port()
    cmd = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    cmd += ["--appendonly", "no", "--dir", str(var_dir)]
    children.start("redis", cmd, dict(os.environ))
    url = f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())

    children.wait_until("redis-server", answers, timeout=15)
    return url


def free_port() -> int:
    """A port free on 127.0.0.1 now (the tiny race until it is bound is harmless here)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(args: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    """The environment of every child, and of this process's Django."""
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


def migrate(env: dict[str, str], project: Path) -> None:
    run_checked([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env, project, 300)


def bootstrap(env: dict[str, str], project: Path) -> str:
    """Migrate and bootstrap the project; returns the root admin's API token."""
    migrate(env, project)
    out = run_checked([sys.executable, "manage.py", "bootstrap"], env, project, timeout=120)
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


def worker_name(index: int) -> str:
    # Unique to this run, so a worker left from another run is told apart.
    return f"bench{index}-{os.getpid()}"


def worker_command(args: argparse.Namespace, index: int) -> list[str]:
    cmd = [sys.executable, "-m", "celery", "-A", "webhooks_project", "worker"]
    cmd += ["--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    cmd += ["--without-heartbeat", "--pool", args.pool, "--concurrency", str(args.concurrency)]
    cmd += ["--hostname", f"{worker_name(index)}@%h"]
    if args.fair:
        cmd += ["-O", "fair"]
    return cmd


def start_workers(args: argparse.Namespace, env: dict[str, str], children: Children) -> list[int]:
    """Start the workers and wait until each answers a ping; their pids."""
    from webhooks_project.celery import app

    pids = [
        children.start(f"worker{i}", worker_command(args, i), env).pid for i in range(args.workers)
    ]
    ours = {f"{worker_name(i)}@{socket.gethostname()}" for i in range(args.workers)}
    answered: set[str] = set()

    def all_answer() -> bool:
        # A worker answers a broadcast ping once its consumer, and so its pool, runs.
        answered.update(name for reply in app.control.ping(timeout=0.5) for name in reply)
        return ours <= answered

    children.wait_until("celery workers", all_answer, timeout=90)
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
    """Start gunicorn on a free port and wait until it is healthy; (port, pid)."""
    port = free_port()
    # The project's gunicorn settings (gthread workers), as in production;
    # an older checkout (--project-dir) may not have them.
    conf = args.project_dir / "webhooks_project" / "gunicorn_conf.py"
    config = ["-c", "python:webhooks_project.gunicorn_conf"] if conf.exists() else []
    cmd = [sys.executable, "-m", "gunicorn", *config, "webhooks_project.wsgi"]
    cmd += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    if args.web_workers is not None:
        cmd += ["--workers", str(args.web_workers)]
    proc = children.start("web", cmd, env)

    def healthy() -> bool:
        return requests.get(f"http://127.0.0.1:{port}/health/", timeout=2).status_code == 200

    children.wait_until("gunicorn", healthy, timeout=60)
    if args.web_workers is None:  # what the project's settings started, for the summary
        args.web_workers = len(descendants(proc_table(), [proc.pid])) - 1
    return port, proc.pid
