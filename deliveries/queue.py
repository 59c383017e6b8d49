"""The only code that sends a Celery message for a delivery.

A message carries delivery ids and only wakes a worker: the database says
what is due (see pipeline/claim.py). Publishing, retries, the sweeper and the
operator's actions all queue through `deliveries_enqueue`.

Messages are sent by task name, so this module (and every service that calls
it) never imports deliveries.tasks: tasks import services, never the reverse.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connection

from deliveries import metrics
from deliveries.models import Delivery, DeliveryStatus
from deliveries.wakeups import Batcher

log = logging.getLogger(__name__)

DELIVER_TASK = "deliveries.tasks.deliver"
BULK_JOB_TASK = "deliveries.tasks.bulk_job"

# How long a process's exit waits for its wake-up thread: a few messages at
# most when the broker is there; with it away each message gives up after
# ~0.4 s (CELERY_TASK_PUBLISH_RETRY_POLICY). What is still held then is in
# the database, its message due: the sweeper queues it once overdue.
EXIT_FLUSH_SECONDS = 5.0


class _Broker:
    """Whether the last message reached the broker, so that an outage is said
    once when it starts and once when it ends (with how many deliveries were
    left to the sweeper meanwhile), not with a traceback per publish."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.lock = threading.Lock()  # the wake-up thread and a task's own sends
        self.down_since: float | None = None
        self.left_to_sweeper = 0

    def failed(self, count: int, exc: Exception) -> None:
        with self.lock:
            self.left_to_sweeper += count
            if self.down_since is not None:
                return
            self.down_since = time.monotonic()
        log.warning(
            "broker unreachable (%s: %s); deliveries stay in the database and "
            "the sweeper will queue them once it is back",
            type(exc).__name__,
            exc,
        )

    def sent(self) -> None:
        if self.down_since is None:  # the usual case, without the lock
            return
        with self.lock:
            if self.down_since is None:
                return
            down_for, left = time.monotonic() - self.down_since, self.left_to_sweeper
            self.down_since, self.left_to_sweeper = None, 0
        log.warning(
            "broker reachable again after %.0f s; %d deliveries were left to the sweeper",
            down_for,
            left,
        )


broker = _Broker()


def deliveries_enqueue(
    delivery_ids: Sequence[uuid.UUID], *, countdown: float | None = None
) -> None:
    """Wake workers for these deliveries, in messages of WEBHOOK_BATCH_SIZE.

    Never raises: if Redis cannot take the message, the deliveries are marked
    as having none in flight, and the sweeper queues them on its next run.

    Published deliveries (no countdown) go to this process's wake-up thread
    (deliveries/wakeups.py): sent at once, or with what other threads hand
    it while it sends; `flush()` waits for it. Two kinds are sent here and
    now instead:
    - a countdown (a near retry, an alarm's repeat): its message is held by
      Redis until due, and ids of different due times cannot share one;
    - anything a worker's task queues (sweeper requeues, operational events,
      operator jobs): a task's wake-ups are few (one sweep per 10 s), so
      there is little to batch, and sent before the task ends they cannot be
      left in the buffer of a pool process that is recycled or killed after
      it (the sweeper would find them only after WEBHOOK_REQUEUE_AFTER).
    """
    ids = [str(i) for i in delivery_ids]
    if not ids:
        return
    if countdown is None and current_app.current_worker_task is None:
        _batcher().add(ids)
        return
    batch = settings.WEBHOOK_BATCH_SIZE
    for start in range(0, len(ids), batch):
        _message_send(ids[start : start + batch], countdown=countdown)


def flush(timeout: float | None = None) -> bool:
    """Wait until the wake-up thread has sent every id handed to it before
    this call (tests, and each process's exit). False if `timeout` ran out."""
    batcher = _wakeups
    return batcher is None or batcher.flush(timeout)


def messages_sent() -> int:
    """Wake-up messages this process's wake-up thread has sent (or given up)."""
    batcher = _wakeups
    return 0 if batcher is None else batcher.messages


def _message_send(ids: list[str], *, countdown: float | None = None, producer: Any = None) -> bool:
    """One message for `ids`; on failure, leave them to the sweeper."""
    # The producer only when held (the wake-up thread): otherwise Celery
    # takes one from its pool for this message.
    options: dict[str, Any] = {"producer": producer} if producer is not None else {}
    # The ids are in the message; what Celery logs of it says how many. Its
    # own repr of the arguments (saferepr) was a twentieth of a message's CPU.
    options["argsrepr"] = f"[<{len(ids)} delivery ids>]"
    options["kwargsrepr"] = "{}"
    try:
        current_app.send_task(DELIVER_TASK, args=[ids], countdown=countdown, **options)
    except Exception as exc:
        broker.failed(len(ids), exc)
        _leave_to_sweeper(ids)
        return False
    broker.sent()
    metrics.wakeup_messages_total.inc()
    return True


def _leave_to_sweeper(ids: list[str]) -> None:
    try:
        Delivery.objects.filter(id__in=ids, status=DeliveryStatus.PENDING).update(
            message_due_at=None
        )
    except DatabaseError:
        # This runs after a commit: it must not turn a stored publish into a
        # failed request. Unmarked, the sweeper still re-queues them once
        # their message is overdue (WEBHOOK_REQUEUE_AFTER).
        log.warning("could not mark %d deliveries for the sweeper", len(ids))


class _HeldProducer:
    """The wake-up thread's producer, on a broker connection of its own, kept
    from one message to the next.

    Celery's send_task otherwise takes a producer (and a connection) from its
    pool and gives them back for every message: measured here, 10 ids a
    message, 2.04 ms of CPU per message that way and 1.74 ms held. Only the
    wake-up thread uses it. After a failed send it is dropped and the next
    message connects afresh, so a broker that came back is used again."""

    def __init__(self) -> None:
        self.app: Any = None
        self.producer: Any = None

    def send(self, ids: list[str]) -> None:
        app = current_app  # looked up each time: tests point it elsewhere
        if self.producer is None or self.app is not app:
            self.drop()
            self.app = app
            # As Celery builds one for send_task(connection=...).
            self.producer = app.amqp.Producer(app.connection_for_write(), auto_declare=False)
        if not _message_send(ids, producer=self.producer):
            self.drop()
            # The failure's own statement opened this thread's database
            # connection; it is not kept idle for the next outage.
            connection.close()

    def drop(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            try:
                producer.connection.release()
            except Exception:  # a connection that broke may fail to close too
                log.debug("closing the wake-up connection failed", exc_info=True)


_lock = threading.Lock()
_wakeups: Batcher | None = None
_held = _HeldProducer()


def _batcher() -> Batcher:
    global _wakeups
    batcher = _wakeups
    if batcher is None:
        with _lock:
            if _wakeups is None:
                # Size and window are read for every message: a settings
                # change applies to the next one.
                _wakeups = Batcher(
                    _held.send,
                    size=lambda: settings.WEBHOOK_BATCH_SIZE,
                    window=lambda: settings.WEBHOOK_ENQUEUE_WINDOW_MS / 1000,
                )
            batcher = _wakeups
    return batcher


def _after_fork_in_child() -> None:
    # gunicorn's workers and Celery's pool processes are forks. The parent's
    # thread is not in the child, its buffer is the parent's to send, and its
    # connection's socket is shared with the parent: the child starts afresh
    # (the objects it inherited are left alone, never closed), with new locks,
    # since the parent's thread may have held one at the fork.
    global _lock, _wakeups, _held
    _lock, _wakeups, _held = threading.Lock(), None, _HeldProducer()
    broker.reset()


def flush_at_exit() -> None:
    batcher = _wakeups
    if batcher is not None and not batcher.flush(EXIT_FLUSH_SECONDS):
        log.warning(
            "exiting with %d deliveries' wake-ups unsent; the sweeper will queue them",
            batcher.held,
        )


os.register_at_fork(after_in_child=_after_fork_in_child)
# Run before Python stops the (daemon) wake-up thread. Processes that leave
# without running atexit (Celery's pool processes) call it from their own
# shutdown hook (webhooks_project/celery.py).
atexit.register(flush_at_exit)


def bulk_job_enqueue(job_id: uuid.UUID | str) -> None:
    """Wake a worker for a bulk job (deliveries/bulk.py). Never raises: a
    job whose message is lost is queued again by the sweeper once its record
    has not moved for WEBHOOK_BULK_STALE seconds."""
    try:
        current_app.send_task(BULK_JOB_TASK, args=[str(job_id)])
    except Exception as exc:
        log.warning("bulk job %s left to the sweeper: %s: %s", job_id, type(exc).__name__, exc)
