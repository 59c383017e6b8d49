"""Attempt rows into the database in one statement, for the least Python per row.

On PostgreSQL a batch's attempts are written with COPY: psycopg turns each
row into COPY's text in C, where bulk_create builds every value through its
field and psycopg then quotes every parameter of a many-row INSERT in Python
(measured in-process on 50-row batches: 14-18 µs of CPU per row against
75-88 for bulk_create, and less work for the server). Elsewhere (SQLite),
bulk_create.

The columns are the model's concrete fields, in order (a field added to
DeliveryAttempt is written with no change here); values go through their
field's own preparation except for the plain types below, whose preparation
on PostgreSQL is the identity, and the JSON ones, encoded once here as the
field would (tests/deliveries/pipeline/test_attempt_rows.py compares the
rows with bulk_create's).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

from deliveries.models import DeliveryAttempt

# Field classes whose value PostgreSQL's backend passes to psycopg as it is
# (get_db_prep_save is the identity there for values of their own type).
PLAIN_FIELDS = (
    models.UUIDField,
    models.ForeignKey,
    models.IntegerField,  # PositiveIntegerField, SmallIntegerField... are subclasses
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.BinaryField,
    models.DateTimeField,
)

# One column's value from an attempt (and the connection): None when the
# attribute is taken as it is.
Prepare = Callable[[DeliveryAttempt, BaseDatabaseWrapper], Any] | None


def attempts_write(attempts: Sequence[DeliveryAttempt]) -> None:
    """Insert these attempt rows in one statement, with no savepoint.

    A row the database refuses raises DatabaseError and spoils the caller's
    transaction: the caller rolls it back and writes the rows one by one
    (deliveries/pipeline/record.py).
    """
    if not attempts:
        return
    db = DeliveryAttempt.objects.db
    connection = connections[db]
    if connection.vendor != "postgresql":
        DeliveryAttempt.objects.bulk_create(attempts)
        return
    sql, columns = _copy_plan(db)
    rows = [
        tuple(
            getattr(a, attname) if prepare is None else prepare(a, connection)
            for attname, prepare in columns
        )
        for a in attempts
    ]
    started = time.monotonic()
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row(row)
    if connection.queries_logged:
        # As the debug cursor logs a statement: COPY does not pass through it.
        connection.queries_log.append(
            {"sql": f"{sql} ({len(rows)} rows)", "time": f"{time.monotonic() - started:.3f}"}
        )
    for attempt in attempts:
        attempt._state.adding, attempt._state.db = False, db


@functools.cache
def _copy_plan(db: str) -> tuple[str, tuple[tuple[str, Prepare], ...]]:
    """The COPY statement and how to get each of its columns' values."""
    connection = connections[db]
    fields = DeliveryAttempt._meta.concrete_fields
    qn = connection.ops.quote_name
    names = ", ".join(qn(f.column) for f in fields)
    sql = f"COPY {qn(DeliveryAttempt._meta.db_table)} ({names}) FROM STDIN"
    return sql, tuple((f.attname, _prepare(f)) for f in fields)


def _prepare(field: models.Field) -> Prepare:
    attname = field.attname
    if isinstance(field, models.JSONField):
        encoder = field.encoder

        def as_json(attempt: DeliveryAttempt, connection: BaseDatabaseWrapper) -> str | None:
            value = getattr(attempt, attname)
            return None if value is None else json.dumps(value, cls=encoder)

        return as_json
    automatic = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    if isinstance(field, PLAIN_FIELDS) and not automatic:
        return None

    def prepared(attempt: DeliveryAttempt, connection: BaseDatabaseWrapper) -> Any:
        return field.get_db_prep_save(field.pre_save(attempt, True), connection)

    return prepared
