"""Model instances straight from cursor rows, for the worker's hot path.

A claim reads a batch of deliveries, their events and their webhooks with
their domains. Through the ORM (RawQuerySet, in_bulk, select_related) each
claim compiled two SELECTs and built every instance through Model.__init__:
measured in-process, that was more than half of the claim's CPU. Here the
statements are built once per shape (cached), run on a plain cursor
(prepared where that is safe, on PostgreSQL: fetch), and
each row becomes an instance as Model.from_db would make it: every concrete
field loaded (no deferred field, so nothing downstream costs a query), the
backend's converters applied (SQLite hands back text for UUIDs and
datetimes), `_state` saying it came from this database.

tests/deliveries/pipeline/test_rows.py checks the instances against the
ORM's, field by field, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connections
from django.db.models import Field, Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from core.plaincursor import any_of, plain_cursor, prepared

M = TypeVar("M", bound=Model)

Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class Shape:
    """How one model's columns come back: their attribute names, in the
    model's concrete-field order, and the converters of the columns that
    have any (index, expression, converters)."""

    attnames: tuple[str, ...]
    converters: tuple[tuple[int, Any, tuple[Converter, ...]], ...]


@functools.cache
def shape(model: type[Model], db: str) -> Shape:
    connection = connections[db]
    fields: Sequence[Field] = model._meta.concrete_fields
    converters = []
    for i, field in enumerate(fields):
        # As SQLCompiler.get_converters does for a column of a query.
        col = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if found:
            converters.append((i, col, tuple(found)))
    return Shape(tuple(f.attname for f in fields), tuple(converters))


def columns(model: type[Model], db: str, alias: str = "") -> str:
    """The model's concrete columns, quoted, in field order (`alias.` before each)."""
    qn = connections[db].ops.quote_name
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{qn(f.column)}" for f in model._meta.concrete_fields)


def instance(model: type[M], row: Sequence[Any], *, db: str) -> M:
    """One instance from the model's concrete columns (`row`, as the cursor
    gave them): what Model.from_db returns, without Model.__init__'s per
    field loop when nobody listens to its signals."""
    form = shape(model, db)
    values = list(row)
    if form.converters:
        connection = connections[db]
        for i, expression, converters in form.converters:
            value = values[i]
            for convert in converters:
                value = convert(value, expression, connection)
            values[i] = value
    if _plain(model):
        obj = model.__new__(model)
        obj.__dict__.update(zip(form.attnames, values, strict=True))
        state = ModelState()
        state.adding, state.db = False, db
        obj._state = state
        return obj
    return model.from_db(db, form.attnames, values)


def _plain(model: type[Model]) -> bool:
    # Model.__init__ sends pre_init and post_init (an ImageField listens,
    # for one): with a listener, the instance is built the ORM's way.
    return not (pre_init.has_listeners(model) or post_init.has_listeners(model))


def by_key_sql(model: type[Model], db: str, count: int) -> str:
    return _by_key_sql(model, db, _shape_count(db, count))


@functools.lru_cache(maxsize=256)
def _by_key_sql(model: type[Model], db: str, count: int) -> str:
    qn = connections[db].ops.quote_name
    where = keys_match(model, db, qn(model._meta.pk.column), count)
    return f"SELECT {columns(model, db)} FROM {qn(model._meta.db_table)} WHERE {where}"


def keys_match(model: type[Model], db: str, column: str, count: int) -> str:
    """`column` among `count` keys of `model`: on PostgreSQL one array
    parameter (one statement for any number of keys), else
    a parameter a key."""
    connection = connections[db]
    if connection.vendor == "postgresql":
        return any_of(column, model._meta.pk.db_type(connection) or "")
    return f"{column} IN ({', '.join(['%s'] * count)})"


def _shape_count(db: str, count: int) -> int:
    # With an array parameter, every count is one statement.
    return 1 if connections[db].vendor == "postgresql" else count


def key_values(model: type[Model], keys: Iterable[Any], *, db: str) -> list[Any]:
    """Primary keys as the database takes them (SQLite: UUIDs as hex), as
    the parameters keys_match's clause takes: an array on PostgreSQL."""
    connection = connections[db]
    pk = model._meta.pk
    values = [pk.get_db_prep_value(k, connection) for k in keys]
    return [values] if connection.vendor == "postgresql" else values


def fetch(db: str, sql: str, params: Sequence[Any], *, prepare: bool) -> list[tuple[Any, ...]]:
    """Run a hot-path statement: on PostgreSQL on a plain cursor, prepared if
    `prepare` (where its plan is right at any table size, core/plaincursor.py)."""
    if connections[db].vendor != "postgresql":
        with connections[db].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    with (prepared if prepare else plain_cursor)(db) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@functools.cache
def key_only_in_primary_key(model: type[Model]) -> bool:
    """Whether no index but the primary key holds the model's key column: then
    a lookup by key can only go through the primary key (with table scans
    off), whatever the table's size when it was planned. An index that holds
    the key elsewhere (Delivery's delivery_recent: created_at, id) can be
    scanned whole with the key as its condition, which is what PostgreSQL
    chose for a table of a few rows."""
    pk = model._meta.pk.name
    indexed = [index.fields for index in model._meta.indexes]
    indexed += [getattr(c, "fields", ()) for c in model._meta.constraints]
    return not any(pk in (name.lstrip("-") for name in fields) for fields in indexed)


def in_bulk(model: type[M], keys: Collection[Any], *, db: str) -> dict[Any, M]:
    """Model.objects.in_bulk(keys) in one cached statement: {pk: instance}."""
    if not keys:
        return {}
    sql = by_key_sql(model, db, len(keys))
    rows = fetch(db, sql, key_values(model, keys, db=db), prepare=key_only_in_primary_key(model))
    found = [instance(model, row, db=db) for row in rows]
    return {obj.pk: obj for obj in found}


def in_bulk_joined(model: type[M], keys: Collection[Any], *, via: str, db: str) -> dict[Any, M]:
    """Model.objects.select_related(via).in_bulk(keys) in one cached
    statement: each instance with the row its foreign key `via` names
    already in its cache (a join on that row's primary key)."""
    if not keys:
        return {}
    fk = model._meta.get_field(via)
    related: type[Model] = fk.related_model  # type: ignore[assignment]
    sql = _joined_sql(model, via, db, _shape_count(db, len(keys)))
    # Prepared where both lookups are by a key no other index holds: the
    # join's order is fixed by the statement (_joined_sql), so its plan is
    # right at any table size.
    prepare = key_only_in_primary_key(model) and key_only_in_primary_key(related)
    rows = fetch(db, sql, key_values(model, keys, db=db), prepare=prepare)
    split = len(model._meta.concrete_fields)
    parent_pk = split + related._meta.concrete_fields.index(related._meta.pk)
    found = {}
    for row in rows:
        obj = instance(model, row[:split], db=db)
        # A null foreign key (LEFT JOIN) has no row to cache: None, as select_related gives.
        parent = instance(related, row[split:], db=db) if row[parent_pk] is not None else None
        fk.set_cached_value(obj, parent)  # type: ignore[union-attr]
        found[obj.pk] = obj
    return found


@functools.lru_cache(maxsize=256)
def _joined_sql(model: type[Model], via: str, db: str, count: int) -> str:
    """The rows of `model` by key, each with the row its foreign key `via`
    names. On PostgreSQL the related row is read by a LATERAL subquery that
    OFFSET 0 keeps from being merged into the join: each model row is found
    by its key, then its related row by that row's key, the only order the
    planner can take. As a plain join, planned on tables of a few rows,
    PostgreSQL joined them the other way round (every webhook of the domains,
    by the foreign key's index), a plan a prepared statement would keep as
    the tables grew. Reading its plan costs less than planning it each time
    (0.15 ms of PostgreSQL's CPU per claim, twice the lookup itself)."""
    connection = connections[db]
    qn = connection.ops.quote_name
    fk = model._meta.get_field(via)
    related: type[Model] = fk.related_model  # type: ignore[assignment]
    assert isinstance(fk, Field) and fk.column
    where = keys_match(model, db, f"m.{qn(model._meta.pk.column)}", count)
    table, key = qn(related._meta.db_table), qn(related._meta.pk.column)
    if connection.vendor == "postgresql":
        joined = (
            f"LEFT JOIN LATERAL (SELECT {columns(related, db, 'r')} FROM {table} r "
            f"WHERE r.{key} = m.{qn(fk.column)} OFFSET 0) r ON true"
        )
    else:
        join = "LEFT JOIN" if fk.null else "JOIN"
        joined = f"{join} {table} r ON r.{key} = m.{qn(fk.column)}"
    return (
        f"SELECT {columns(model, db, 'm')}, {columns(related, db, 'r')} "
        f"FROM {qn(model._meta.db_table)} m {joined} WHERE {where}"
    )


def new(model: type[M], values: dict[str, Any]) -> M:
    """An unsaved instance, as model(**values) makes it (`values` by
    attribute name, `delivery_id` rather than `delivery`; the other fields
    take their defaults), without Model.__init__'s per field work when
    nobody listens to its signals: a recorded batch builds one attempt per
    delivery."""
    if not _plain(model):
        return model(**values)
    fields = _fields(model)
    unknown = values.keys() - fields.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no field {sorted(unknown)[0]!r}")
    obj = model.__new__(model)
    attributes = obj.__dict__
    for attname, field in fields.items():
        if attname not in values:
            attributes[attname] = field.get_default()
    attributes.update(values)
    obj._state = ModelState()
    return obj


def field(model: type[Model], attname: str) -> Field:
    """A concrete field by attribute name (typed: _meta.get_field is not)."""
    return _fields(model)[attname]


@functools.cache
def _fields(model: type[Model]) -> dict[str, Field]:
    return {f.attname: f for f in model._meta.concrete_fields}
