"""core.checkbyuse: a unit of work's first statement checks its connection, in
place of Django's SELECT 1, and runs once more only when the connection was
broken while idle."""

from __future__ import annotations

import pytest
from django.db import OperationalError, close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext

from core.checkbyuse import first_statement, skip_health_check
from tests.pgsessions import cut_while_idle

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="cutting a server-side connection needs PostgreSQL",
    ),
]


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_statement_on_a_connection_cut_while_idle_runs_again_on_a_new_one():
    dead = (connection.ensure_connection(), cut_while_idle())[1]
    runs = []

    def statement():
        runs.append(1)
        return backend_pid()

    assert first_statement("default", statement) != dead
    assert len(runs) == 2  # the first found the dead connection, the second ran


def test_no_select_1_runs_before_it():
    connection.ensure_connection()
    close_old_connections()  # a new request: Django would health-check first
    connection.health_check_done = False

    with CaptureQueriesContext(connection) as queries:
        first_statement("default", backend_pid)

    # CaptureQueriesContext logs Django's cursors; is_usable's SELECT 1 runs on
    # the raw connection, so the proof is the flag and the one statement.
    assert [q["sql"] for q in queries.captured_queries] == ["SELECT pg_backend_pid()"]
    assert connection.health_check_done


def test_an_error_of_the_statement_itself_is_raised_and_not_run_again():
    connection.ensure_connection()
    runs = []

    def times_out():
        runs.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 1")
            try:
                cursor.execute("SELECT pg_sleep(1)")
            finally:
                cursor.execute("RESET statement_timeout")

    with pytest.raises(OperationalError):
        first_statement("default", times_out)
    assert len(runs) == 1


def test_inside_a_transaction_a_cut_connection_is_raised():
    # The transaction's earlier work is gone with the connection: running the
    # statement again on a new one would hide that.
    connection.ensure_connection()
    with pytest.raises(OperationalError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        cut_while_idle()
        first_statement("default", backend_pid)
    connection.close()


def test_skip_health_check_leaves_a_connection_in_a_transaction_alone():
    connection.ensure_connection()
    with transaction.atomic():
        connection.health_check_done = False
        skip_health_check("default")
        assert not connection.health_check_done
        connection.health_check_done = True  # as it was: Django checks again on leaving
    connection.health_check_done = False
    skip_health_check("default")
    assert connection.health_check_done
