"""Hot-path statements on a plain psycopg cursor (PostgreSQL only).

Django's PostgreSQL backend runs every statement on psycopg's ClientCursor,
which quotes each parameter into the SQL text in Python: for publishing's
INSERT of ten deliveries that quoting was a quarter of the whole publish
(bulk_create's UNNEST arrays, quoted element by element). A plain cursor
sends the parameters apart from the text (server-side binding, the unnamed
statement), dumped by psycopg in C. Nothing is prepared (Django leaves
psycopg's prepare_threshold off), so a pooler in transaction mode is no
concern.

Only the cursor changes: the connection, its transaction (atomic,
on_commit), its type adapters and its errors are Django's
(wrap_database_errors: a lost connection is still marked unusable and
closed), and the statements are logged as Django logs its own
(DEBUG, CaptureQueriesContext). Django's execute_wrapper hooks do not see
them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connections


class PlainCursor:
    """A psycopg cursor whose statements are logged as Django's are, when
    Django logs them (connection.queries_logged)."""

    def __init__(self, cursor: psycopg.Cursor, log: Any) -> None:
        self.cursor = cursor
        self.log = log  # Django's queries_log (a deque), or None

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        if self.log is None:
            self.cursor.execute(sql, params)
            return
        started = time.monotonic()
        try:
            self.cursor.execute(sql, params)
        finally:
            elapsed = f"{time.monotonic() - started:.3f}"
            self.log.append({"sql": f"{sql} {params!r}", "time": elapsed})

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.cursor.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.cursor.fetchall()


@contextmanager
def plain_cursor(db: str) -> Iterator[PlainCursor]:
    """A server-side-binding cursor on Django's connection `db`, as
    connection.cursor() would give one (a broken transaction refused, the
    connection opened if it is not)."""
    connection = connections[db]
    connection.validate_no_broken_transaction()
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield PlainCursor(cursor, connection.queries_log if connection.queries_logged else None)
