"""The Celery app: configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webhooks_project.settings")

app = Celery("webhooks_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Each worker node's heartbeat (deliveries/liveness.py). By name: Celery loads
# it when a worker starts, after Django, since it needs the models.
app.steps["consumer"].add("deliveries.liveness:WorkerHeartbeat")


@task_prerun.connect
def _check_database_connection(**kwargs) -> None:
    # Workers keep their connection across tasks (CELERY_DB_REUSE_MAX), so do
    # for each task what Django does for each request: drop a connection that
    # broke (a PostgreSQL restart) or aged out, and health-check it before
    # use (CONN_HEALTH_CHECKS), instead of failing every task until recycled.
    from django.db import close_old_connections

    close_old_connections()
