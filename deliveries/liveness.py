"""Signs of life: which workers are running, when the sweeper and the purge last ran.

A real heartbeat, not a guess from queue activity: each worker node writes
its row every WORKER_HEARTBEAT_INTERVAL from its consumer's own timer (the
`WorkerHeartbeat` bootstep below, added in webhooks_project/celery.py), so
the beats stop when the worker stops consuming: stopped, killed, or cut off
from Redis. Beat stamps its own row as it schedules (webhooks_project/beat.py);
the sweep and purge tasks stamp theirs when they finish.
Readiness (webhooks_project/health.py), the metrics and the console read
them here. Nothing is written per delivery: a handful of rows, on timers.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from typing import Any

from celery import bootsteps
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from deliveries.models import Heartbeat, HeartbeatKind

log = logging.getLogger(__name__)

# A worker row this old is a worker that died without saying goodbye
# (SIGKILL, a machine lost): the next beat of any worker deletes it.
FORGET_AFTER = dt.timedelta(hours=1)


@dataclass(frozen=True)
class WorkerBeat:
    hostname: str
    pid: int
    last_seen: dt.datetime


@dataclass(frozen=True)
class PurgeRun:
    finished_at: dt.datetime
    rows_deleted: int


def _stamp(
    kind: str, *, hostname: str = "", pid: int = 0, now: dt.datetime, rows: int | None = None
) -> None:
    # An upsert: one statement, and two first beats racing cannot collide.
    Heartbeat.objects.bulk_create(
        [Heartbeat(kind=kind, hostname=hostname, pid=pid, last_seen=now, rows_deleted=rows)],
        update_conflicts=True,
        unique_fields=["kind", "hostname", "pid"],
        update_fields=["last_seen", "rows_deleted"],
    )


def worker_beat(*, hostname: str, pid: int, now: dt.datetime | None = None) -> None:
    """Record that this worker node is alive; forget the long-dead ones."""
    now = now or timezone.now()
    _stamp(HeartbeatKind.WORKER, hostname=hostname, pid=pid, now=now)
    Heartbeat.objects.filter(kind=HeartbeatKind.WORKER, last_seen__lt=now - FORGET_AFTER).delete()


def worker_forget(*, hostname: str, pid: int) -> None:
    """A worker shutting down says so: it is absent at once, not after the stale bound."""
    Heartbeat.objects.filter(kind=HeartbeatKind.WORKER, hostname=hostname, pid=pid).delete()


def beat_tick(*, hostname: str, pid: int, now: dt.datetime | None = None) -> None:
    """Record that this beat process is scheduling (webhooks_project/beat.py)."""
    _stamp(HeartbeatKind.BEAT, hostname=hostname, pid=pid, now=now or timezone.now())


def beat_last_tick(*, hostname: str | None = None) -> dt.datetime | None:
    """When a beat process (on this host, if given) last showed it is scheduling."""
    rows = Heartbeat.objects.filter(kind=HeartbeatKind.BEAT)
    if hostname is not None:
        rows = rows.filter(hostname=hostname)
    row = rows.order_by("-last_seen").first()
    return row.last_seen if row else None


def sweep_record(*, now: dt.datetime | None = None) -> None:
    _stamp(HeartbeatKind.SWEEP, now=now or timezone.now())


def purge_record(*, rows_deleted: int, now: dt.datetime | None = None) -> None:
    _stamp(HeartbeatKind.PURGE, now=now or timezone.now(), rows=rows_deleted)


def workers_alive(*, now: dt.datetime | None = None) -> list[WorkerBeat]:
    """Worker nodes whose last beat is within WORKER_HEARTBEAT_STALE_AFTER, newest first."""
    now = now or timezone.now()
    since = now - dt.timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_AFTER)
    rows = Heartbeat.objects.filter(kind=HeartbeatKind.WORKER, last_seen__gte=since).order_by(
        "-last_seen", "hostname"
    )
    return [WorkerBeat(r.hostname, r.pid, r.last_seen) for r in rows]


def beat_last_sweep() -> dt.datetime | None:
    """When the sweeper (sent by beat every WEBHOOK_SWEEP_INTERVAL) last finished."""
    row = Heartbeat.objects.filter(kind=HeartbeatKind.SWEEP).order_by("-last_seen").first()
    return row.last_seen if row else None


def last_purge() -> PurgeRun | None:
    """The purge's last run: when it finished and how many rows it deleted."""
    row = Heartbeat.objects.filter(kind=HeartbeatKind.PURGE).order_by("-last_seen").first()
    return PurgeRun(row.last_seen, row.rows_deleted or 0) if row else None


class WorkerHeartbeat(bootsteps.StartStopStep):
    """A consumer bootstep: the worker node's heartbeat, from the consumer's timer.

    It starts once the consumer is consuming and stops when the consumer
    stops (shutdown, or a lost broker connection until it is back), so a
    beat means "this worker takes work now". It runs in the main process,
    which otherwise never touches the database: it closes its connection
    after each beat, so the pool's children are never forked holding one.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None
        self.hostname = ""
        self.pid = 0

    def start(self, parent: Any) -> None:
        self.hostname, self.pid = parent.hostname, os.getpid()
        self.beat()
        self.tref = parent.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_INTERVAL, self.beat, priority=10
        )

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def shutdown(self, parent: Any) -> None:
        self.stop(parent)
        if self.pid:
            self._write(worker_forget)

    def beat(self) -> None:
        self._write(worker_beat)

    def _write(self, write: Any) -> None:
        try:
            close_old_connections()
            write(hostname=self.hostname, pid=self.pid)
        except DatabaseError as exc:  # the database is down: no beat, which says so
            log.warning("worker heartbeat not written: %s", exc)
        finally:
            connection.close()
