"""The Celery app: configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import task_prerun, worker_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webhooks_project.settings")

app = Celery("webhooks_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Each worker node's heartbeat (deliveries/liveness.py). By name: Celery loads
# it when a worker starts, after Django, since it needs the models.
app.steps["consumer"].add("deliveries.liveness:WorkerHeartbeat")


@task_prerun.connect
def _check_database_connection(sender=None, **kwargs) -> None:
    # Workers keep their connection across tasks (CELERY_DB_REUSE_MAX), so do
    # for each task what Django does for each request: drop a connection that
    # broke (a PostgreSQL restart) or aged out, and health-check it before
    # use (CONN_HEALTH_CHECKS), instead of failing every task until recycled.
    # A deliver task's claim checks by use instead (deliveries/pipeline/claim.py).
    from django.db import close_old_connections

    from deliveries.pipeline.claim import health_check_by_claim
    from deliveries.queue import DELIVER_TASK

    close_old_connections()
    if getattr(sender, "name", None) == DELIVER_TASK:
        health_check_by_claim()


@worker_init.connect
def _worker_commits(**kwargs) -> None:
    # In the worker's main process, before its pool forks: every connection
    # the worker's processes open gets the setting (docs/architecture.md#durability).
    from django.conf import settings
    from django.db.backends.signals import connection_created

    if not settings.WEBHOOK_WORKER_SYNCHRONOUS_COMMIT:
        connection_created.connect(commit_without_waiting, weak=False)
    connection_created.connect(plan_by_index, weak=False)


def plan_by_index(sender, connection, **kwargs) -> None:
    """A worker's PostgreSQL session plans through indexes alone, so that its
    hot statements can be prepared (core/plaincursor.py). Everything a worker
    reads is by key or by a partial index; a table scan stays where no index
    applies."""
    if connection.vendor == "postgresql":
        from core.plaincursor import plan_through_indexes

        plan_through_indexes(connection)


def commit_without_waiting(sender, connection, **kwargs) -> None:
    """A worker's PostgreSQL session commits without waiting for the disk."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
        # deliveries.publishing turns it back on for the events it stores.
        connection.commits_without_waiting = True


@worker_process_shutdown.connect
def _wakeups_flush(**kwargs) -> None:
    # A pool process leaves with os._exit, so atexit never runs there: send
    # what its wake-up thread holds (deliveries/queue.py; a task's own
    # wake-ups are sent before it ends, so this is rarely anything).
    from deliveries import queue

    queue.flush_at_exit()
