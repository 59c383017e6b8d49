"""An event and its deliveries into the database: on PostgreSQL in one
statement, built once per process and run on a plain cursor (prepared:
planned once per connection); elsewhere
(SQLite) through the ORM.

Measured in-process (10 deliveries an event, this machine): the ORM's
event.save() and bulk_create() cost 330 and 1,390 µs of CPU, most of it
compiling the INSERTs and quoting every value in Python (bulk_create's
UNNEST arrays element by element); this statement, 150-200 µs, and one
round trip instead of two.

The columns are the models' concrete fields, in order: a field added to
Event or Delivery is written with no change here. A delivery's columns other
than its id, event, webhook, due times and creation time take their field's
default (pending, no attempts, no error...), as Delivery() would give them
(tests/deliveries/test_publish_rows.py compares the rows with the ORM's).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from django.db import IntegrityError, connections, models, transaction

from core.plaincursor import prepared
from deliveries.models import Delivery, Event


class DeliveryRow(NamedTuple):
    """What differs between an event's deliveries."""

    id: uuid.UUID
    webhook_id: uuid.UUID
    next_attempt_at: dt.datetime
    message_due_at: dt.datetime | None


# Delivery's columns that come from each DeliveryRow (unnest's arrays).
ROW_COLUMNS = DeliveryRow._fields


def event_insert(event: Event, rows: Sequence[DeliveryRow], *, now: dt.datetime) -> bool:
    """Insert `event` and these deliveries of it, created `now`, unless an
    event with its id exists (a republished id, or a producer racing itself):
    then nothing is written and the answer is False."""
    db = Event.objects.db
    event.created_at = now  # auto_now_add, as save() would set it
    if connections[db].vendor == "postgresql":
        inserted = _statement_insert(db, event, rows, now=now)
    else:
        inserted = _orm_insert(event, rows, now=now)
    if inserted:
        event._state.adding, event._state.db = False, db
    return inserted


def _statement_insert(
    db: str, event: Event, rows: Sequence[DeliveryRow], *, now: dt.datetime
) -> bool:
    sql, event_values, constants = _statement(db)
    params = [value(event) for value in event_values]
    params += [now if constant is _NOW else constant for constant in constants]
    params += [_array([getattr(row, name) for row in rows]) for name in ROW_COLUMNS]
    # It reads no table (the conflict test is the unique index's): prepared
    # on any connection.
    with prepared(db, reads_tables=False) as cursor:
        cursor.execute(sql, params)
        inserted = cursor.fetchone()
    return bool(inserted and inserted[0])


def _orm_insert(event: Event, rows: Sequence[DeliveryRow], *, now: dt.datetime) -> bool:
    try:
        with transaction.atomic():  # savepoint: a duplicate id lands here
            event.save(force_insert=True)
    except IntegrityError:
        if not Event.objects.filter(id=event.id).exists():
            raise
        return False
    Delivery.objects.bulk_create(
        Delivery(event=event, created_at=now, **row._asdict()) for row in rows
    )
    return True


def _array(values: list[Any]) -> str:
    """A PostgreSQL array literal of uuids and times: one text parameter
    instead of psycopg dumping a list element by element (a third cheaper).
    The times are nearly all the same one: each is written once."""
    texts: dict[Any, str] = {None: "NULL"}
    for value in values:
        if value not in texts:
            texts[value] = _element(value)
    return "{" + ",".join([texts[value] for value in values]) + "}"


def _element(value: Any) -> str:
    if isinstance(value, uuid.UUID | dt.datetime):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    raise TypeError(f"no array element for {type(value).__name__}")


_NOW = object()  # stands for the creation time among the delivery constants


@functools.cache
def _statement(db: str) -> tuple[str, tuple[Callable[[Event], Any], ...], tuple[Any, ...]]:
    """The INSERT of an event and its deliveries, how to get each event
    value, and the deliveries' constant values (_NOW: the creation time)."""
    connection = connections[db]
    qn = connection.ops.quote_name

    def cast(field: models.Field) -> str:
        return f"%s::{field.db_type(connection)}"

    event_fields = Event._meta.concrete_fields
    pk = qn(Event._meta.pk.column)
    event_sql = (
        f"INSERT INTO {qn(Event._meta.db_table)} ({', '.join(qn(f.column) for f in event_fields)}) "
        f"VALUES ({', '.join(cast(f) for f in event_fields)}) "
        f"ON CONFLICT ({pk}) DO NOTHING RETURNING {pk}"
    )
    delivery_fields = Delivery._meta.concrete_fields
    chosen, constants = [], []
    for field in delivery_fields:
        if field.attname in ROW_COLUMNS:
            chosen.append(f"u.{qn(field.attname)}")
        elif field.attname == "event_id":
            chosen.append(f"e.{pk}")
        else:
            if field.has_default() and callable(field.default):
                # A constant here is computed once per process: a default
                # made per row (a time, a token) needs a DeliveryRow column.
                raise TypeError(f"Delivery.{field.attname}'s default is made per row")
            chosen.append(cast(field))
            constants.append(_NOW if field.attname == "created_at" else field.get_default())
    by_name = {f.attname: f for f in delivery_fields}
    arrays = ", ".join(f"%s::{by_name[name].db_type(connection)}[]" for name in ROW_COLUMNS)
    delivery_sql = (
        f"INSERT INTO {qn(Delivery._meta.db_table)} "
        f"({', '.join(qn(f.column) for f in delivery_fields)}) "
        f"SELECT {', '.join(chosen)} FROM e, unnest({arrays}) "
        f"AS u({', '.join(qn(name) for name in ROW_COLUMNS)})"
    )
    sql = f"WITH e AS ({event_sql}), d AS ({delivery_sql}) SELECT count(*) FROM e"
    return sql, tuple(_event_value(f) for f in event_fields), tuple(constants)


def _event_value(field: models.Field) -> Callable[[Event], Any]:
    attname = field.attname
    if isinstance(field, models.JSONField):
        encoder = field.encoder  # as the field encodes it (adapt_json_value)
        return lambda event: json.dumps(getattr(event, attname), cls=encoder)
    return lambda event: getattr(event, attname)
