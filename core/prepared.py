"""A queryset of one parameter, turned into SQL once per database connection.

Django compiles a queryset to SQL on every evaluation: for a query that a
request makes every time, with joins (the API token with its user,
membership, account and domain: five tables), that compiling costs several
times what the rest of the call takes. Measured in-process, 2,000 calls of
the token query on a busy machine: 1.3-1.6 ms of CPU per call through the
ORM, 0.36-0.38 ms prepared (the round trip and five model instances).
A PreparedQuery compiles its queryset the first time a connection runs it,
then only swaps the parameter in, executes the same SQL, and builds the rows
into model instances as the ORM's own iterator does (with the converters and
related-object populators Django made for that SQL: select_related caches
are filled, values come back as the ORM would give them). On PostgreSQL the
statement is also prepared on the server, its first plan made through
indexes (core.plaincursor.fetch_prepared_anywhere): a PreparedQuery is for
lookups by key, with joins by key.

What it takes: a queryset built by a function of one value, which must reach
the SQL as given (a text column's exact match; anything the field would
convert, such as a UUID, is refused when compiling), without annotations or
known related objects.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]
from django.db.models.sql.compiler import SQLCompiler

from core.plaincursor import fetch_prepared_anywhere

M = TypeVar("M", bound=Model)

# What the queryset is first built with, to find where the parameter lands.
_MARK = "\x00core.prepared parameter\x00"
UNCONVERTED = "the parameter must reach the SQL once, unconverted (a text match)"


@dataclass(frozen=True)
class _Compiled:
    connection: Any  # the DatabaseWrapper whose compiler made it (one per thread)
    sql: str
    params: tuple[Any, ...]
    index: int  # where the parameter goes in params
    build: Callable[[Sequence[Sequence[Any]]], list[Any]]


class PreparedQuery(Generic[M]):
    def __init__(self, build: Callable[[str], QuerySet[M]]) -> None:
        self._build = build
        # Per thread: a compiler belongs to its thread's connection.
        self._local = threading.local()

    def all(self, value: str, *, using: str = DEFAULT_DB_ALIAS) -> list[M]:
        """What `list(build(value))` returns, without compiling it again."""
        compiled = self._compiled(using)
        params = list(compiled.params)
        params[compiled.index] = value
        # Prepared too, where it can be: on PostgreSQL, planning the token's
        # five-table join was 0.34 ms of the server's CPU per request, nine
        # tenths of the statement's (pg_stat_statements, bench/run.py).
        rows = fetch_prepared_anywhere(using, compiled.sql, params)
        return compiled.build(rows)

    def _compiled(self, using: str) -> _Compiled:
        connection = connections[using]
        compiled: _Compiled | None = getattr(self._local, using, None)
        if compiled is None or compiled.connection is not connection:
            compiled = _compile(self._built(), using)
            setattr(self._local, using, compiled)
        return compiled

    def _built(self) -> QuerySet[M]:
        try:
            return self._build(_MARK)
        except (DjangoValidationError, ValueError, TypeError) as exc:  # a field converting it
            raise ValueError(UNCONVERTED) from exc


def _compile(queryset: QuerySet[Any], using: str) -> _Compiled:
    known = queryset._known_related_objects  # type: ignore[attr-defined]
    if known or queryset.query.annotation_select:
        raise ValueError("PreparedQuery takes no annotations and no known related objects")
    compiler = queryset.query.get_compiler(using=using)
    sql, params = compiler.as_sql()  # also fills compiler.select and klass_info
    places = [i for i, param in enumerate(params) if param == _MARK]
    if len(places) != 1:
        raise ValueError(UNCONVERTED)
    return _Compiled(
        connection=compiler.connection,
        sql=sql,
        params=tuple(params),
        index=places[0],
        build=_builder(compiler, using),
    )


def _builder(compiler: SQLCompiler, using: str) -> Callable[[Sequence[Sequence[Any]]], list[Any]]:
    """Rows -> model instances, as django.db.models.query.ModelIterable makes them."""
    select, klass_info = compiler.select, compiler.klass_info
    assert klass_info is not None  # a model query
    model = klass_info["model"]
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    attnames = [column[0].target.attname for column in select[start:end]]
    populators = get_related_populators(klass_info, select, using)
    converters = compiler.get_converters([column[0] for column in select[: compiler.col_count]])

    def build(rows: Sequence[Sequence[Any]]) -> list[Any]:
        converted = compiler.apply_converters(rows, converters) if converters else rows
        instances = []
        for row in converted:
            instance = model.from_db(using, attnames, row[start:end])
            for populator in populators:
                populator.populate(row, instance)
            instances.append(instance)
        return instances

    return build
