"""The only code that sends a Celery message for a delivery.

A message carries delivery ids and only wakes a worker: the database says
what is due (see pipeline/claim.py). Publishing, retries, the sweeper and the
operator's actions all queue through `deliveries_enqueue`.

Messages are sent by task name, so this module (and every service that calls
it) never imports deliveries.tasks: tasks import services, never the reverse.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence

from celery import current_app
from django.conf import settings
from django.db import DatabaseError

from deliveries.models import Delivery, DeliveryStatus

log = logging.getLogger(__name__)

DELIVER_TASK = "deliveries.tasks.deliver"
BULK_JOB_TASK = "deliveries.tasks.bulk_job"


class _Broker:
    """Whether the last message reached the broker, so that an outage is said
    once when it starts and once when it ends (with how many deliveries were
    left to the sweeper meanwhile), not with a traceback per publish."""

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.left_to_sweeper = 0

    def failed(self, count: int, exc: Exception) -> None:
        self.left_to_sweeper += count
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning(
                "broker unreachable (%s: %s); deliveries stay in the database and "
                "the sweeper will queue them once it is back",
                type(exc).__name__,
                exc,
            )

    def sent(self) -> None:
        if self.down_since is not None:
            log.warning(
                "broker reachable again after %.0f s; %d deliveries were left to the sweeper",
                time.monotonic() - self.down_since,
                self.left_to_sweeper,
            )
            self.down_since, self.left_to_sweeper = None, 0


broker = _Broker()


def deliveries_enqueue(
    delivery_ids: Sequence[uuid.UUID], *, countdown: float | None = None
) -> None:
    """Wake workers for these deliveries, in messages of WEBHOOK_BATCH_SIZE.

    Never raises: if Redis cannot take the message, the deliveries are marked
    as having none in flight, and the sweeper queues them on its next run.
    """
    batch = settings.WEBHOOK_BATCH_SIZE
    for start in range(0, len(delivery_ids), batch):
        chunk = [str(i) for i in delivery_ids[start : start + batch]]
        try:
            current_app.send_task(DELIVER_TASK, args=[chunk], countdown=countdown)
        except Exception as exc:
            broker.failed(len(chunk), exc)
            try:
                Delivery.objects.filter(id__in=chunk, status=DeliveryStatus.PENDING).update(
                    message_due_at=None
                )
            except DatabaseError:
                # This runs after a commit: it must not turn a stored publish
                # into a failed request. Unmarked, the sweeper still re-queues
                # them once their message is overdue (WEBHOOK_REQUEUE_AFTER).
                log.warning("could not mark %d deliveries for the sweeper", len(chunk))
        else:
            broker.sent()


def bulk_job_enqueue(job_id: uuid.UUID | str) -> None:
    """Wake a worker for a bulk job (deliveries/bulk.py). Never raises: a
    job whose message is lost is queued again by the sweeper once its record
    has not moved for WEBHOOK_BULK_STALE seconds."""
    try:
        current_app.send_task(BULK_JOB_TASK, args=[str(job_id)])
    except Exception as exc:
        log.warning("bulk job %s left to the sweeper: %s: %s", job_id, type(exc).__name__, exc)
