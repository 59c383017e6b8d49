"""core.plaincursor: a psycopg cursor on Django's connection and transaction."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from core.plaincursor import plain_cursor

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg is PostgreSQL's"),
]


def test_it_runs_in_djangos_transaction():
    with transaction.atomic():
        with plain_cursor("default") as cursor:
            cursor.execute("SELECT txid_current() = %s::bigint", [0])
        with connection.cursor() as django_cursor:
            django_cursor.execute("SELECT txid_current_if_assigned() IS NOT NULL")
            assert django_cursor.fetchone() == (True,)  # the same transaction saw our statement


def test_parameters_are_bound_apart_from_the_text():
    with plain_cursor("default") as cursor:
        cursor.execute("SELECT %s::text, %s::int", ["it's 'quoted'?", 7])
        assert cursor.fetchall() == [("it's 'quoted'?", 7)]


def test_statements_are_logged_when_django_logs():
    with CaptureQueriesContext(connection) as queries, plain_cursor("default") as cursor:
        cursor.execute("SELECT %s::int", [1])
        assert cursor.fetchone() == (1,)

    assert [q["sql"] for q in queries.captured_queries] == ["SELECT %s::int [1]"]


def test_errors_are_djangos_and_spoil_the_transaction_as_any_would():
    with pytest.raises(DatabaseError), transaction.atomic():
        with pytest.raises(DatabaseError), plain_cursor("default") as cursor:
            cursor.execute("SELECT 1 / %s::int", [0])
        # Django knows the transaction is broken: no cursor is given in it
        with plain_cursor("default"):
            pass
