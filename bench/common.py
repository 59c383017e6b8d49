"""What the benchmarks share: their PostgreSQL database (locked, dropped and
made again) and a reading of how busy the machine is."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit


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
