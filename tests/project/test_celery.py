"""webhooks_project/celery.py: a worker's sessions commit without waiting
for the disk; what it publishes still does (deliveries.publishing). Each
task starts on a checked connection."""

from types import SimpleNamespace

import pytest
from django.db import connection, connections, transaction
from django.db.backends.signals import connection_created

from deliveries.publishing import event_publish
from deliveries.queue import DELIVER_TASK
from webhooks_project.celery import (
    _check_database_connection,
    _worker_commits,
    commit_without_waiting,
)

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's"
)


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_worker_session_commits_without_waiting_but_an_event_is_stored_durably():
    # Given a session set up as a worker's
    commit_without_waiting(sender=None, connection=connection)
    assert synchronous_commit() == "off"
    try:
        # When an event is published in it, its transaction waits for the disk
        seen = []
        with transaction.atomic():
            event_publish(type="vm.start", data={})
            seen.append(synchronous_commit())
        # Then only that transaction: the session goes on without waiting
        assert seen == ["on"]
        assert synchronous_commit() == "off"
    finally:
        del connection.commits_without_waiting
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


@pytest.mark.django_db
def test_elsewhere_publishing_adds_no_statement():
    # the web server's sessions are left as the database has them: nothing to undo
    from django.test.utils import CaptureQueriesContext

    assert not getattr(connection, "commits_without_waiting", False)
    with CaptureQueriesContext(connection) as queries:
        event_publish(type="vm.start", data={})
    statements = [q["sql"] for q in queries.captured_queries]
    assert any("INSERT" in sql for sql in statements)
    assert not any("synchronous_commit" in sql for sql in statements)


@pytest.mark.parametrize(("setting", "connected"), [(False, True), (True, False)])
def test_the_setting_decides_whether_worker_connections_are_set_up(settings, setting, connected):
    settings.WEBHOOK_WORKER_SYNCHRONOUS_COMMIT = setting
    _worker_commits()
    # disconnect() says whether it was connected
    assert connection_created.disconnect(commit_without_waiting) is connected


def test_other_databases_are_left_alone():
    class SQLite:
        vendor = "sqlite"

    commit_without_waiting(sender=None, connection=SQLite())  # no cursor asked for
    assert "commits_without_waiting" not in vars(SQLite)
    assert connections  # the real connections are not touched either


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("task", "checked"), [(DELIVER_TASK, False), ("deliveries.tasks.sweep", True)]
)
def test_only_a_deliver_task_skips_the_health_check_its_claim_makes_by_use(task, checked):
    # Given a connection left open by the previous task
    with connection.cursor():
        pass

    # When a task starts
    _check_database_connection(sender=SimpleNamespace(name=task))

    # Then Django health-checks it before the task's first query, except
    # before a deliver task's claim (deliveries/pipeline/claim.py)
    assert connection.health_check_done is not checked
