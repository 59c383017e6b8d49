"""Hot-path statements on a plain psycopg cursor (PostgreSQL only).

Django's PostgreSQL backend runs every statement on psycopg's ClientCursor,
which quotes each parameter into the SQL text in Python: for publishing's
INSERT of ten deliveries that quoting was a quarter of the whole publish
(bulk_create's UNNEST arrays, quoted element by element). A plain cursor
sends the parameters apart from the text (server-side binding, the unnamed
statement), dumped by psycopg in C.

Hot statements can also be prepared (`prepared(db)`): parsed and planned
once per connection instead of on every run, which was a sixth of the
claim's, the record's and the publish's database time. Their plans are
generic (plan_cache_mode, webhooks_project/settings.py), so such a statement
names in its text the constants a partial index matches on ('pending',
'sending'), and takes a list of keys as one array (`= ANY(%s)`): one
statement, one plan, however many keys.

A generic plan is kept until the table's statistics change, and one made
while a table was small can be wrong once it has grown: a statement that
reads a table is prepared only where no such plan exists. On a connection
whose session plans through indexes alone (PLAN_THROUGH_INDEXES: the
workers') and for a table whose only index holding the key is its primary
key, a lookup by key has no other plan at any size (the claim's read of
the events; of the webhooks with their domains, the join's order fixed by
the statement: tests/deliveries/pipeline/test_rows.py). The claim itself
and the record's UPDATE are not prepared: planned on tables of a few rows,
PostgreSQL read the deliveries' ids through delivery_recent (its second
column is the id) as a scan of the whole index, a plan it kept as the table
grew (a prepared claim went from 5 to 140 ms). A statement that reads no
table (the publish's INSERT) is prepared anywhere. On a session that plans
freely (the web's), a read by key is prepared with its first plan made
through indexes (fetch_prepared_anywhere: the API's token query).

A pooler in transaction mode without prepared-statement support (PgBouncer
before 1.21) cannot carry them: WEBHOOK_PREPARED_STATEMENTS=0 turns them off.

Only the cursor changes: the connection, its transaction (atomic,
on_commit), its type adapters and its errors are Django's
(wrap_database_errors: a lost connection is still marked unusable and
closed), and the statements are logged as Django logs its own
(DEBUG, CaptureQueriesContext). Django's execute_wrapper hooks do not see
them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections


class PlainCursor:
    """A psycopg cursor whose statements are logged as Django's are, when
    Django logs them (connection.queries_logged)."""

    def __init__(self, cursor: psycopg.Cursor, log: Any, *, prepare: bool = False) -> None:
        self.cursor = cursor
        self.log = log  # Django's queries_log (a deque), or None
        # psycopg keeps the statements it prepared per connection (an LRU of
        # prepared_max) and prepares each on its first run here.
        self.prepare = prepare or None

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount

    def execute(
        self,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any],
        *,
        prepare: bool | None = None,
    ) -> None:
        """Run `sql`; prepared as the cursor says unless `prepare` says otherwise."""
        prepare = self.prepare if prepare is None else prepare or None
        if self.log is None:
            self.cursor.execute(sql, params, prepare=prepare)
            return
        started = time.monotonic()
        try:
            self.cursor.execute(sql, params, prepare=prepare)
        finally:
            elapsed = f"{time.monotonic() - started:.3f}"
            self.log.append({"sql": f"{sql} {params!r}", "time": elapsed})

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.cursor.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.cursor.fetchall()


@contextmanager
def plain_cursor(db: str, *, prepare: bool = False) -> Iterator[PlainCursor]:
    """A server-side-binding cursor on Django's connection `db`, as
    connection.cursor() would give one (a broken transaction refused, the
    connection opened if it is not); its statements prepared if `prepare`."""
    connection = connections[db]
    connection.validate_no_broken_transaction()
    connection.ensure_connection()
    log = connection.queries_log if connection.queries_logged else None
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield PlainCursor(cursor, log, prepare=prepare)


# A session's settings under which every plan reads through an index where
# one applies: a plan made while a table was small stays right as it grows.
PLANNER_SCANS_OFF = ("enable_seqscan", "enable_bitmapscan")
PLAN_THROUGH_INDEXES = "; ".join(f"SET {name} TO off" for name in PLANNER_SCANS_OFF)


def plan_through_indexes(connection: Any) -> None:
    """Give this Django connection's session PLAN_THROUGH_INDEXES, and mark it
    as one on which statements that read tables may be prepared."""
    with connection.cursor() as cursor:
        cursor.execute(PLAN_THROUGH_INDEXES)
    connection.plans_through_indexes = True


def prepared(db: str, *, reads_tables: bool = True) -> AbstractContextManager[PlainCursor]:
    """A plain cursor (PostgreSQL only) whose statements are prepared, unless
    WEBHOOK_PREPARED_STATEMENTS is off, or they read tables (`reads_tables`)
    and the connection does not plan through indexes alone."""
    prepare = settings.WEBHOOK_PREPARED_STATEMENTS and (
        not reads_tables or getattr(connections[db], "plans_through_indexes", False)
    )
    return plain_cursor(db, prepare=prepare)


# PLANNER_SCANS_OFF's settings as the session had them, kept, then turned
# off (one round trip); and put back as they were.
_PLAN_SETTINGS_SAVE = (
    "WITH was AS MATERIALIZED (SELECT "
    + ", ".join(f"current_setting('{name}') AS s{i}" for i, name in enumerate(PLANNER_SCANS_OFF))
    + ") SELECT "
    + ", ".join(f"s{i}" for i in range(len(PLANNER_SCANS_OFF)))
    + ", "
    + ", ".join(f"set_config('{name}', 'off', false)" for name in PLANNER_SCANS_OFF)
    + " FROM was"
)
_PLAN_SETTINGS_RESTORE = "SELECT " + ", ".join(
    f"set_config('{name}', %s, false)" for name in PLANNER_SCANS_OFF
)


def fetch_prepared_anywhere(db: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of `sql`, prepared on PostgreSQL even on a session that plans
    freely (the web's), for a read whose every plan should go through indexes
    (a lookup by key, its joins by key).

    The statement's first run on a connection is planned under
    PLAN_THROUGH_INDEXES, the session's own settings put back right after:
    its generic plan then reads through indexes however small the tables
    were, where one planned on a table of a few rows scans it, and kept that
    plan as the table grew. PostgreSQL plans it again once the tables'
    statistics change (an ANALYZE, autovacuum's included), and psycopg
    prepares it again if its cache of prepared_max (100) statements let it
    go: then under the session's settings, from statistics of the tables as
    they are by then.

    In a transaction, or with WEBHOOK_PREPARED_STATEMENTS off, or on another
    database, it is run unprepared: the settings' change would be undone
    with a rollback that the statement's own error may cause.
    """
    connection = connections[db]
    if (
        connection.vendor != "postgresql"
        or not settings.WEBHOOK_PREPARED_STATEMENTS
        or connection.in_atomic_block
        or not connection.get_autocommit()
    ):
        with connection.cursor() as django_cursor:
            django_cursor.execute(sql, params)
            return django_cursor.fetchall()
    with plain_cursor(db) as cursor:
        planned = _first_planned(connection)
        if sql in planned or getattr(connection, "plans_through_indexes", False):
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchall()
        cursor.execute(_PLAN_SETTINGS_SAVE, [])
        saved = cursor.fetchone()
        assert saved is not None
        try:
            cursor.execute(sql, params, prepare=True)
            rows = cursor.fetchall()
        finally:
            # Also after an error: outside a transaction the session kept them.
            # If the connection broke, there is no session left to restore.
            with suppress(psycopg.OperationalError):
                cursor.execute(_PLAN_SETTINGS_RESTORE, saved[: len(PLANNER_SCANS_OFF)])
        planned.add(sql)
        return rows


def _first_planned(connection: Any) -> set[str]:
    """What fetch_prepared_anywhere prepared on this Django connection's
    current database connection (a new one has prepared nothing)."""
    raw = connection.connection
    state = getattr(connection, "first_planned", None)
    if state is None or state[0] is not raw:
        state = connection.first_planned = (raw, set())
    return state[1]


def any_of(column: str, cast: str) -> str:
    """`column` among an array parameter of keys: one statement for any
    number of them (an empty array matches nothing)."""
    return f"{column} = ANY(%s::{cast}[])"
