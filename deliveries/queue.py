"""The only code that sends a Celery message for a delivery.

A message carries delivery ids and only wakes a worker: the database says
what is due (see pipeline/claim.py). Publishing, retries, the sweeper and the
operator's actions all queue through `deliveries_enqueue`.

Messages are sent by task name, so this module (and every service that calls
it) never imports deliveries.tasks: tasks import services, never the reverse.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from celery import current_app
from django.conf import settings

from deliveries.models import Delivery, DeliveryStatus

log = logging.getLogger(__name__)

DELIVER_TASK = "deliveries.tasks.deliver"


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
        except Exception:
            log.exception("could not queue %d deliveries; the sweeper will", len(chunk))
            Delivery.objects.filter(id__in=chunk, status=DeliveryStatus.PENDING).update(
                message_due_at=None
            )
