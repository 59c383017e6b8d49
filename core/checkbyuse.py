"""A connection checked by its first statement instead of by a SELECT 1.

Django's CONN_HEALTH_CHECKS runs `SELECT 1` before the first query of every
request (and, here, of every Celery task): a round trip before work that is
often one or two statements. Where that first statement is safe to run twice
(a read, or a claim that is one atomic statement), it can be the check: run
it; if it fails because the connection broke while idle (a PostgreSQL
restart, a cut connection), close the connection and run it once more on a
new one. Measured on the API's event POST: the health check was 4 % of the
web process's CPU per request, and one of its five round trips.

Only outside a transaction: inside one, a broken connection has lost the
transaction's earlier work, and running again would hide that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connections

T = TypeVar("T")


def skip_health_check(db: str) -> None:
    """Let the next statement on `db`'s open connection run without Django's
    health check before it: call only when that statement runs through
    first_statement. A connection not open yet is new, so healthy."""
    connection = connections[db]
    if connection.connection is not None and not connection.in_atomic_block:
        connection.health_check_done = True  # type: ignore[attr-defined]  # Django's own flag


def first_statement(db: str, run: Callable[[], T]) -> T:
    """run(), the first statement of a unit of work on `db`, with its
    connection checked by use: once more on a new connection if it failed
    because the connection was broken. `run` must be safe to repeat after a
    failure (nothing of it was done if the connection was broken before it
    ran; if it broke while running, the caller's recovery applies, as for any
    statement)."""
    skip_health_check(db)
    connection = connections[db]
    try:
        return run()
    except (InterfaceError, OperationalError):
        if connection.in_atomic_block or connection.is_usable():
            raise  # a real error of the statement, or a transaction's
        connection.close()
        return run()
