"""Celery tasks: thin. They take ids, never payloads, and call a service."""

from __future__ import annotations

import logging

from celery import shared_task

from deliveries import liveness, metrics
from deliveries.pipeline.send import deliveries_send
from deliveries.pipeline.sweep import deliveries_sweep
from deliveries.purge import deliveries_purge
from deliveries.queue import DELIVER_TASK
from hooks.services import tokens_purge

log = logging.getLogger(__name__)


@shared_task(name=DELIVER_TASK, ignore_result=True)
def deliver(delivery_ids: list[str]) -> int:
    """Send these deliveries if they are still due (a stale message does nothing)."""
    return deliveries_send(delivery_ids)


@shared_task(name="deliveries.tasks.sweep", ignore_result=True)
def sweep() -> dict:
    """Re-queue due deliveries that have no message, recover expired claims."""
    result = deliveries_sweep()
    liveness.sweep_record()
    metrics.sweep_count(requeued=result.requeued, expired=result.expired)
    if result.requeued or result.expired:
        log.info(
            "sweep: re-queued %d, recovered %d expired claims", result.requeued, result.expired
        )
    return {"requeued": result.requeued, "expired": result.expired}


@shared_task(name="deliveries.tasks.purge", ignore_result=True)
def purge() -> dict:
    """Delete old finished deliveries (queue itself again while rows remain) and
    expired API tokens."""
    result = deliveries_purge()
    tokens = tokens_purge()
    liveness.purge_record(rows_deleted=result.deliveries + result.events)
    metrics.purge_count(deliveries=result.deliveries, events=result.events)
    log.info(
        "purge: deleted %d deliveries, %d events, %d expired API tokens",
        result.deliveries,
        result.events,
        tokens,
    )
    if result.more:
        purge.delay()
    return {"deliveries": result.deliveries, "events": result.events, "more": result.more}
