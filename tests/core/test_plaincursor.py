"""core.plaincursor: a psycopg cursor on Django's connection and transaction."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken

from core.plaincursor import fetch_prepared_anywhere, plain_cursor
from tests.factories import UserFactory
from tests.pgsessions import prepared_plans

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


def planner_settings() -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('enable_seqscan'), current_setting('enable_bitmapscan')"
        )
        return cursor.fetchone()


TOKEN_LIKE_SQL = (
    "SELECT t.token_key, u.username FROM knox_authtoken t "
    "JOIN auth_user u ON u.id = t.user_id WHERE t.token_key = %s"
)


@pytest.mark.django_db(transaction=True)
def test_a_read_prepared_on_a_freely_planning_session_is_first_planned_through_indexes():
    # given tiny tables, analysed: a free plan would scan them
    user = UserFactory()
    AuthToken.objects.create(user=user)
    key = AuthToken.objects.get().token_key
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knox_authtoken")
        cursor.execute("ANALYZE auth_user")
    connection.close()  # a session that has prepared nothing
    before = planner_settings()

    # when the read runs twice
    first = fetch_prepared_anywhere("default", TOKEN_LIKE_SQL, [key])
    second = fetch_prepared_anywhere("default", TOKEN_LIKE_SQL, [key])

    # then it gives the rows, is prepared once, its plan through indexes,
    # and the session's planner settings are as they were
    assert first == second == [(key, user.username)]
    [plan] = prepared_plans(TOKEN_LIKE_SQL)
    assert "Seq Scan" not in plan and "Index" in plan, plan
    assert planner_settings() == before == ("on", "on")


@pytest.mark.django_db(transaction=True)
def test_a_failing_first_run_leaves_the_sessions_settings_as_they_were():
    connection.close()
    with pytest.raises(DatabaseError):
        fetch_prepared_anywhere("default", "SELECT 1 / (%s::int - 1)", [1])

    assert planner_settings() == ("on", "on")
    assert fetch_prepared_anywhere("default", "SELECT 1 / (%s::int - 1)", [2]) == [(1,)]


def test_in_a_transaction_it_is_run_unprepared():
    with transaction.atomic():
        assert fetch_prepared_anywhere("default", "SELECT %s::int + 40", [2]) == [(42,)]
        assert prepared_plans("SELECT %s::int + 40") == []
        assert planner_settings() == ("on", "on")


@pytest.mark.django_db(transaction=True)
def test_with_prepared_statements_off_it_is_run_unprepared(settings):
    settings.WEBHOOK_PREPARED_STATEMENTS = False
    assert fetch_prepared_anywhere("default", "SELECT %s::int + 41", [1]) == [(42,)]
    assert prepared_plans("SELECT %s::int + 41") == []


@pytest.mark.django_db(transaction=True)
def test_with_autocommit_off_it_is_run_unprepared():
    transaction.set_autocommit(False)
    try:
        assert fetch_prepared_anywhere("default", "SELECT %s::int + 39", [3]) == [(42,)]
        assert prepared_plans("SELECT %s::int + 39") == []
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)
