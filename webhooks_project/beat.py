"""django-celery-beat's database scheduler, plus an initial delay per task.

django-celery-beat stores the schedule from settings.CELERY_BEAT_SCHEDULE in
the database (so operators see and edit it in the admin), but an interval task
that never ran first runs one full interval after creation, and one that ran
runs at last_run + interval, whatever happened since. CloudStack's cleanup runs
first `initial.delay` seconds after start: we get the same by back-dating
last_run_at when beat starts.

It also writes beat's own heartbeat as it ticks (deliveries/liveness.py), so
`manage.py healthcheck beat` can tell a beat that schedules from one that hangs.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from deliveries import liveness

log = logging.getLogger(__name__)


class Scheduler(DatabaseScheduler):
    _next_beat = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Schedule as usual, and write beat's own heartbeat every
        WORKER_HEARTBEAT_INTERVAL (its docker-compose healthcheck reads it)."""
        interval = super().tick(*args, **kwargs)
        if time.monotonic() >= self._next_beat:
            self._next_beat = time.monotonic() + settings.WORKER_HEARTBEAT_INTERVAL
            try:
                liveness.beat_tick(hostname=socket.gethostname(), pid=os.getpid())
            except DatabaseError as exc:  # no beat written says so; scheduling goes on
                log.warning("beat heartbeat not written: %s", exc)
        return min(interval, settings.WORKER_HEARTBEAT_INTERVAL)

    def setup_schedule(self) -> None:
        super().setup_schedule()
        now = timezone.now()
        for name, delay in settings.WEBHOOK_BEAT_INITIAL_DELAYS.items():
            task = PeriodicTask.objects.filter(name=name).select_related("interval").first()
            if task is None or task.interval is None:
                continue
            interval = timedelta(seconds=task.interval.every * _unit_seconds(task.interval.period))
            PeriodicTask.objects.filter(pk=task.pk).update(
                last_run_at=now - interval + timedelta(seconds=delay)
            )
        # Entries were loaded before the update above: reload them.
        self._schedule = self.all_as_schedule()
        self._heap_invalidated = True


def _unit_seconds(period: str) -> int:
    return {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1, "microseconds": 0}[period]
