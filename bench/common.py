"""What the benchmarks share: their PostgreSQL database (locked, dropped and
made again), Django set up with the benchmark's environment, and a reading of
how busy the machine is."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def require_local(parser: argparse.ArgumentParser, *urls: str) -> None:
    """Stop with a usage error unless every URL names this machine: the
    benchmarks drop databases and flush Redis."""
    for url in urls:
        if urlsplit(url).hostname not in LOCAL_HOSTS:
            parser.error(f"{url}: the benchmark only talks to 127.0.0.1")


def add_system_options(
    parser: argparse.ArgumentParser,
    *,
    database: tuple[str, str],
    redis: tuple[str, str],
    redis_help: str,
    env_help: str,
) -> None:
    """The options of a benchmark that starts the system: --database-url and
    --redis-url (each defaulting to an environment variable, then a URL),
    --env for extra settings and --keep-var. `check_system_options` vets them."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get(*database),
        help="dropped and created again at start",
    )
    parser.add_argument("--redis-url", default=os.environ.get(*redis), help=redis_help)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help=env_help)
    parser.add_argument(
        "--keep-var", action="store_true", help="keep the temporary VAR_DIR and logs"
    )


def check_system_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for item in args.env:
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", item):
            parser.error(f"--env {item!r}: use NAME=VALUE")
    require_local(parser, *filter(None, (args.database_url, args.redis_url)))


def lock_database(url: str) -> tuple[Any, str]:
    """A maintenance connection holding an advisory lock named after the
    database in `url`, until it is closed: a second benchmark started against
    the same database would otherwise drop it under the first one's feet.
    Returns the connection and the database's name."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=10)
    locked = conn.execute(
        "SELECT pg_try_advisory_lock(hashtext(%s))", (f"webhooks-bench:{name}",)
    ).fetchone()
    if not (locked and locked[0]):
        conn.close()
        raise RuntimeError(f"another benchmark is running against database {name!r}")
    return conn, name


def recreate_database(conn: Any, name: str) -> None:
    """Drop and create the database. FORCE: a worker left over from an
    interrupted run must not block the drop."""
    from psycopg import sql

    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(env: dict[str, str], project: Path) -> None:
    """Set Django up in this process with `env` (the settings the benchmark's
    children get too) and the code of `project`."""
    os.environ.update(env)
    # First on the path: --project-dir's code, not the venv's editable install.
    # And the working directory too: Celery's Django fixup puts os.getcwd() at
    # the head of sys.path while Django sets up, ahead of what we put there.
    sys.path.insert(0, str(project))
    os.chdir(project)
    import django

    django.setup()


def machine_busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy over the next `seconds` (from /proc/stat)."""

    def ticks() -> tuple[int, int]:
        with open("/proc/stat") as f:
            t = [int(x) for x in f.readline().split()[1:]]
        return sum(t[:8]), t[3] + t[4]

    total0, idle0 = ticks()
    time.sleep(seconds)
    total1, idle1 = ticks()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)
