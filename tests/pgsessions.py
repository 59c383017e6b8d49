"""PostgreSQL sessions beside the test's own: to hold locks the way another
worker would, or to cut the test's connection the way a database restart
would."""

from __future__ import annotations

import time

import psycopg
from django.db import close_old_connections, connection


def other_connection(*, autocommit: bool = False, dbname: str = "") -> psycopg.Connection:
    """A second session on the test database (or `dbname`), apart from Django's."""
    s = connection.settings_dict
    return psycopg.connect(
        autocommit=autocommit,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname=dbname or s["NAME"],
    )


def cut_while_idle() -> int:
    """Terminate Django's open session from another, as a database restart
    would between two requests or tasks; return the dead session's pid.
    Django still holds the dead connection: close_old_connections (run as
    every request and task starts) does not notice."""
    pid = connection.connection.info.backend_pid
    with other_connection(autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        # pg_terminate_backend only signals: wait until the session is gone.
        deadline = time.monotonic() + 10
        while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
            if time.monotonic() > deadline:
                raise AssertionError(f"backend {pid} still there 10 s after it was terminated")
            time.sleep(0.01)
    close_old_connections()
    return pid


def prepared_plans(sql: str) -> list[str]:
    """EXPLAIN of each statement Django's session has prepared with `sql`'s text
    (under psycopg's names), run with a key that matches nothing."""
    text = sql.replace("%s", "$1")
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE statement = %s", [text])
        names = [row[0] for row in cursor.fetchall()]
        plans = []
        for name in names:
            cursor.execute(f'EXPLAIN EXECUTE "{name}" (%s)', ["nokey"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans
