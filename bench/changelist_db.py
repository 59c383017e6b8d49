"""The console benchmark's database: locked and made again, or reused with
--keep when an earlier run filled it the same way (its comment says so);
Django set up on it; and the figures of what it holds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.common import ROOT, lock_database, recreate_database, setup_django


def open_database(url: str, *, keep: bool, fingerprint: str) -> tuple[Any, bool]:
    """Drop and create the benchmark database, or with `keep` reuse it when its
    comment says an earlier run filled it with the same parameters.

    Returns the maintenance connection, which holds an advisory lock named
    after the database until closed (bench/run.py takes the same lock), and
    whether the database must be filled.
    """
    conn, name = lock_database(url)
    try:
        if keep:
            if read_fill(conn, url).get("fingerprint") == fingerprint:
                return conn, False
            print(f"--keep: {name} was not filled with these parameters; filling it again")
        recreate_database(conn, name)
    except BaseException:
        conn.close()
        raise
    return conn, True


def remember_fill(conn: Any, url: str, info: dict) -> None:
    """The fill's parameters and duration, as the database's comment: --keep
    reads them back."""
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    conn.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal(json.dumps(info))
        )
    )


def read_fill(conn: Any, url: str) -> dict:
    name = urlsplit(url).path.lstrip("/")
    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        (name,),
    ).fetchone()
    return json.loads(row[0]) if row and row[0] else {}


def setup_django_migrated(url: str, var_dir: Path) -> None:
    """Django on the benchmark's database, migrated (also when reused: a new
    index is then measured on the same rows)."""
    setup_django(
        {
            "DJANGO_SETTINGS_MODULE": "webhooks_project.settings",
            "DATABASE_URL": url,
            "VAR_DIR": str(var_dir),
            "LOG_LEVEL": "WARNING",
            "DEBUG": "0",  # as in production; queries are timed by our own wrapper
        },
        ROOT,
    )
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


@dataclass
class Figures:
    events: int
    deliveries: int
    attempts: int
    by_status: dict[str, int]
    last_24h: int
    newest_age_s: float
    size: str
    tables: list[tuple[str, str, str]]  # table, heap, indexes


def database_figures() -> Figures:
    from django.db import connection

    with connection.cursor() as c:

        def one(sql: str) -> Any:
            c.execute(sql)
            return c.fetchone()[0]

        # Estimates are fine for the big tables after ANALYZE; the exact
        # figures would themselves be the full scans the pages avoid.
        def estimate(table: str) -> int:
            return int(one(f"SELECT reltuples::bigint FROM pg_class WHERE relname = '{table}'"))

        c.execute("SELECT status, count(*) FROM deliveries_delivery GROUP BY status")
        by_status = dict(c.fetchall())
        c.execute(
            "SELECT relname, pg_size_pretty(pg_table_size(oid)), "
            "pg_size_pretty(pg_indexes_size(oid)) FROM pg_class "
            "WHERE relname IN ('deliveries_event', 'deliveries_delivery', "
            "'deliveries_deliveryattempt') ORDER BY relname"
        )
        tables = c.fetchall()
        return Figures(
            events=estimate("deliveries_event"),
            deliveries=sum(by_status.values()),
            attempts=estimate("deliveries_deliveryattempt"),
            by_status=by_status,
            last_24h=one(
                "SELECT count(*) FROM deliveries_delivery "
                "WHERE created_at >= now() - interval '24 hours'"
            ),
            newest_age_s=float(
                one("SELECT extract(epoch FROM now() - max(created_at)) FROM deliveries_delivery")
            ),
            size=one("SELECT pg_size_pretty(pg_database_size(current_database()))"),
            tables=tables,
        )
