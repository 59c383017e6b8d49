"""Purge old delivery records, in bounded batches (CloudStack's cleanup task).

Keeps the newest WEBHOOK_DELIVERIES_KEEP finished deliveries of each webhook
and none older than WEBHOOK_DELIVERIES_MAX_AGE_DAYS. Pending and sending
deliveries are never touched: they are work, not history. Events left with no
delivery go too, once they are an hour old (a producer retrying a publish
within the hour still finds its event and is not handed a second one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from deliveries.models import FINISHED, Delivery, Event

ORPHAN_EVENT_GRACE = dt.timedelta(hours=1)


@dataclass(frozen=True)
class PurgeResult:
    deliveries: int
    events: int
    more: bool  # stopped at max_batches with rows left: run again


def deliveries_purge(
    *,
    now: dt.datetime | None = None,
    keep: int | None = None,
    max_age_days: float | None = None,
    batch_size: int | None = None,
    max_batches: int = 20,
) -> PurgeResult:
    now = now or timezone.now()
    keep = settings.WEBHOOK_DELIVERIES_KEEP if keep is None else keep
    max_age_days = (
        settings.WEBHOOK_DELIVERIES_MAX_AGE_DAYS if max_age_days is None else max_age_days
    )
    batch_size = batch_size or settings.WEBHOOK_PURGE_BATCH
    finished = Delivery.objects.filter(status__in=FINISHED)

    def too_old() -> QuerySet[Delivery, Any]:  # ids, or none
        if not max_age_days:
            return Delivery.objects.none()
        cutoff = now - dt.timedelta(days=max_age_days)
        return finished.filter(created_at__lt=cutoff).values_list("id", flat=True)

    def beyond_newest() -> QuerySet[Delivery, Any]:
        if not keep:
            return Delivery.objects.none()
        rank = Window(
            RowNumber(),
            partition_by=[F("webhook_id")],
            order_by=[F("created_at").desc(), F("id").desc()],
        )
        return finished.annotate(rank=rank).filter(rank__gt=keep).values_list("id", flat=True)

    deleted = batches = 0
    for select in (too_old, beyond_newest):
        while batches < max_batches:
            ids = list(select()[:batch_size])
            if not ids:
                break
            batches += 1
            # Re-check the status: a redeliver may have made one pending again.
            deleted += (
                Delivery.objects.filter(id__in=ids, status__in=FINISHED)
                .delete()[1]
                .get("deliveries.Delivery", 0)
            )
    events = 0
    orphans = Event.objects.filter(
        deliveries__isnull=True, created_at__lt=now - ORPHAN_EVENT_GRACE
    ).values_list("id", flat=True)
    while batches < max_batches:
        ids = list(orphans[:batch_size])
        if not ids:
            break
        batches += 1
        events += (
            Event.objects.filter(id__in=ids, deliveries__isnull=True)
            .delete()[1]
            .get("deliveries.Event", 0)
        )
    # Out of batches: say "more" only if something is really left, so the task
    # does not re-queue itself for an idle run.
    more = batches >= max_batches and (
        too_old().exists() or beyond_newest().exists() or orphans.exists()
    )
    return PurgeResult(deliveries=deleted, events=events, more=more)
