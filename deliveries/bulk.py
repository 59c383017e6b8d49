"""Operator actions over many deliveries (recover, requeue, delete) as jobs.

A small selection is acted on at once, in the request. A large one becomes a
BulkJob that the workers run in batches of WEBHOOK_BULK_BATCH, each batch in
one transaction that does its work and moves the job's cursor (`last_id`)
and counts: a worker killed mid-batch rolls the batch back whole, and the
next run starts after the last committed batch, so nothing is lost or done
twice. The sweeper re-queues a job whose record stopped moving
(WEBHOOK_BULK_STALE), which is how a job outlives its worker.

Deliveries are chosen by the delivery list's filters (`selection`), as seen
by the job's user, read again for each batch: ids in order, created up to
the job's start (deliveries published later are not the job's).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from deliveries import queue
from deliveries.filters import DeliveryFilter
from deliveries.models import BulkJob, BulkJobKind, BulkJobState, Delivery, DeliveryStatus
from deliveries.pipeline.operator import queue_again
from deliveries.removal import deliveries_delete
from hooks.models import Scope
from hooks.permissions import Actor, actor_for

log = logging.getLogger(__name__)

# The list filters a selection may use (DeliveryFilter's), plus search.
SELECTION_KEYS = (*DeliveryFilter.base_filters, "search")


class InvalidSelection(ValueError):
    """A selection naming no filter, or an unknown one, or a bad value."""


def selection_from_params(params: Any) -> dict[str, Any]:
    """A selection from a query string (a QueryDict): the list filters used,
    `status` as a list. Refuses one that names no filter (search alone is
    not one): that would be every delivery."""
    selection: dict[str, Any] = {}
    for name in SELECTION_KEYS:
        values = [v for v in params.getlist(name) if v]
        if values:
            selection[name] = values if name == "status" else values[-1]
    if not set(selection) - {"search"}:  # search narrows a filter; alone it is too wide
        raise InvalidSelection("Name at least one filter (webhook, status, created_after, …).")
    return selection


def selection_deliveries(*, actor: Actor, selection: dict[str, Any]) -> QuerySet[Delivery]:
    """The deliveries a selection chooses among those the actor may act on:
    those they see, less global webhooks' unless they are a root admin."""
    unknown = sorted(set(selection) - set(SELECTION_KEYS))
    if unknown:
        raise InvalidSelection(f"Unknown filter(s): {', '.join(unknown)}.")
    base = Delivery.objects.filter(
        actor.visible(account_field="webhook__account", domain_field="webhook__domain")
    )
    if not actor.is_root:
        base = base.exclude(webhook__scope=Scope.GLOBAL)
    chosen = DeliveryFilter(data=selection, queryset=base)
    if not chosen.is_valid():
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in chosen.errors.items())
        raise InvalidSelection(problems)
    deliveries = chosen.qs
    term = selection.get("search")
    if term:
        deliveries = deliveries.filter(
            Q(event__type__icontains=term) | Q(last_error__icontains=term)
        )
    return deliveries


def recover_selection(*, webhook_id: Any, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    """The failed deliveries of a webhook created in [since, until)."""
    return {
        "webhook": str(webhook_id),
        "status": [DeliveryStatus.FAILED],
        "created_after": since.isoformat(),
        "created_before": until.isoformat(),
    }


def _apply(kind: str, deliveries: QuerySet[Delivery]) -> int:
    if kind == BulkJobKind.DELETE:
        return deliveries_delete(deliveries=deliveries)
    return queue_again(deliveries)  # recover and requeue: one more attempt each


def bulk_apply(*, kind: str, deliveries: QuerySet[Delivery]) -> int:
    """Act on a small selection now, in this process. Returns how many were
    queued or deleted (those a worker is sending are left alone)."""
    return _apply(kind, deliveries)


def bulk_job_start(
    *, kind: str, actor: Actor, selection: dict[str, Any], total: int | None = None
) -> BulkJob:
    """Record a job and queue it for the workers (after commit)."""
    if total is None:
        total = selection_deliveries(actor=actor, selection=selection).count()
    user = actor.user if getattr(actor.user, "pk", None) else None
    job = BulkJob.objects.create(kind=kind, created_by=user, selection=selection, total=total)
    transaction.on_commit(lambda: queue.bulk_job_enqueue(job.pk))
    return job


def _fail(job_id: Any, reason: str) -> None:
    BulkJob.objects.filter(pk=job_id).update(
        state=BulkJobState.FAILED, error=reason, finished_at=timezone.now()
    )


def bulk_job_step(job_id: Any) -> bool:
    """Do one batch of a job. Returns whether more remain."""
    with transaction.atomic():
        # A write first: it locks the job (PostgreSQL's row lock, SQLite's
        # database lock), so two runs of one job (a duplicated message, a
        # resume racing a slow worker) take turns, each after the other's cursor.
        now = timezone.now()
        live = (BulkJobState.QUEUED, BulkJobState.RUNNING)
        if not BulkJob.objects.filter(pk=job_id, state__in=live).update(
            state=BulkJobState.RUNNING, updated_at=now
        ):
            return False  # finished, or gone
        job = BulkJob.objects.select_related("created_by").get(pk=job_id)
        actor = actor_for(job.created_by)
        if actor.role is None:
            _fail(job.pk, "The job's user is gone or has no role any more.")
            return False
        try:
            chosen = selection_deliveries(actor=actor, selection=job.selection)
        except InvalidSelection as exc:
            _fail(job.pk, str(exc))
            return False
        chosen = chosen.filter(created_at__lte=job.created_at)
        if job.last_id is not None:
            chosen = chosen.filter(id__gt=job.last_id)
        ids = list(
            chosen.order_by("id").values_list("id", flat=True)[: settings.WEBHOOK_BULK_BATCH]
        )
        if not ids:
            BulkJob.objects.filter(pk=job.pk).update(state=BulkJobState.SUCCEEDED, finished_at=now)
            return False
        acted = _apply(job.kind, Delivery.objects.filter(id__in=ids))
        job.done += len(ids)
        job.affected += acted
        job.skipped += len(ids) - acted
        job.last_id = ids[-1]
        job.save(update_fields=["done", "affected", "skipped", "last_id", "updated_at"])
    return True


def bulk_job_run(job_id: Any, *, budget_seconds: float | None = None) -> bool:
    """Run a job's batches for up to budget_seconds (WEBHOOK_BULK_BUDGET).
    Returns whether more remain (the task then queues itself again, so one
    job never holds a worker process for long)."""
    budget = settings.WEBHOOK_BULK_BUDGET if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    while bulk_job_step(job_id):
        if time.monotonic() >= deadline:
            return True
    return False


def bulk_jobs_resume(*, now: dt.datetime) -> int:
    """Queue again the unfinished jobs whose record stopped moving for
    WEBHOOK_BULK_STALE seconds: their worker died, or their message was lost.
    Touched, so the next sweep does not queue them again at once."""
    stale = now - dt.timedelta(seconds=settings.WEBHOOK_BULK_STALE)
    ids = list(
        BulkJob.objects.filter(
            state__in=(BulkJobState.QUEUED, BulkJobState.RUNNING), updated_at__lt=stale
        ).values_list("id", flat=True)[:100]
    )
    if ids:
        BulkJob.objects.filter(id__in=ids).update(updated_at=now)
        for job_id in ids:
            queue.bulk_job_enqueue(job_id)
        log.info("resumed %d bulk job(s) whose record had stopped moving", len(ids))
    return len(ids)
