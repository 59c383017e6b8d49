"""The sweeper (run by beat): every unfinished delivery will be worked on."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from deliveries import queue
from deliveries.http import ErrorClass, SendResult
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from deliveries.pipeline.outcome import Outcome, decide
from deliveries.pipeline.record import attempt_build, outcomes_record
from hooks.health import Circuit


@dataclass(frozen=True)
class SweepResult:
    requeued: int
    expired: int


def deliveries_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Make sure every unfinished delivery will be worked on.

    1. A claim whose lease ran out belongs to a worker that died (or hung past
       its hard time limit) mid-attempt. Nobody knows whether the receiver got
       it: record the attempt as lost and let the retry policy decide.
    2. A pending delivery that is due and has no message in flight (a lost
       enqueue, a flushed Redis, a retry too far off to ride in Redis) is queued.
    """
    now = now or timezone.now()
    return SweepResult(expired=_expired_claims_recover(now), requeued=_lost_messages_requeue(now))


def _expired_claims_recover(now: dt.datetime) -> int:
    stale = list(
        Delivery.objects.filter(status=DeliveryStatus.SENDING, lease_expires_at__lt=now)
        .select_related("webhook__domain", "event")
        .order_by("lease_expires_at")[: settings.WEBHOOK_SWEEP_LIMIT]
    )
    by_token: dict[uuid.UUID | None, list[tuple[Delivery, DeliveryAttempt, Outcome]]]
    by_token = defaultdict(list)
    for delivery in stale:
        assert delivery.lease_expires_at is not None  # the filter above keeps only expired leases
        lost = SendResult(
            error_class=ErrorClass.WORKER_LOST,
            error_message=(
                f"no result was recorded before the claim expired at "
                f"{delivery.lease_expires_at:%Y-%m-%d %H:%M:%S}Z; the worker stopped "
                f"mid-attempt, and the receiver may or may not have the request"
            ),
        )
        # Which worker held the claim is not known: the attempt names none.
        attempt = attempt_build(delivery, delivery.webhook.payload_url, [], lost, now, worker="")
        attempt.started_at = delivery.lease_expires_at - dt.timedelta(
            seconds=settings.WEBHOOK_LEASE_SECONDS
        )
        by_token[delivery.claim_token].append((delivery, attempt, decide(delivery, lost, now=now)))
    return sum(outcomes_record(token, results) for token, results in by_token.items())


def _lost_messages_requeue(now: dt.datetime) -> int:
    overdue = now - dt.timedelta(seconds=settings.WEBHOOK_SWEEP_GRACE)
    lost_before = now - dt.timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER)
    # Only endpoints that may be sent to now (held ones wait: claim.py), and
    # of each no more than it may have in flight: the rest would only be
    # left unclaimed by the claim, and queued again on the next sweep.
    claimable = (
        Q(webhook__enabled=True)
        & (Q(webhook__throttled_until__isnull=True) | Q(webhook__throttled_until__lte=now))
        & (~Q(webhook__circuit=Circuit.OPEN) | Q(webhook__circuit_retry_at__lte=now))
    )
    limit = Case(
        When(webhook__circuit=Circuit.OPEN, then=Value(1)),
        default=Coalesce(
            "webhook__throttle_limit",
            "webhook__max_in_flight",
            Value(settings.WEBHOOK_MAX_IN_FLIGHT),
        ),
        output_field=IntegerField(),
    )
    # ... less what is being sent to it now: a webhook at its limit gets none.
    in_flight = (
        Delivery.objects.filter(webhook_id=OuterRef("webhook_id"), status=DeliveryStatus.SENDING)
        .order_by()
        .values("webhook_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    due_ids = list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=overdue)
        .filter(Q(message_due_at__isnull=True) | Q(message_due_at__lte=lost_before))
        .filter(claimable)
        .annotate(
            rank=Window(RowNumber(), partition_by=F("webhook_id"), order_by="next_attempt_at"),
            limit=limit,
        )
        .annotate(in_flight=Coalesce(Subquery(in_flight), Value(0)))
        .filter(rank__lte=F("limit") - F("in_flight"))
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[: settings.WEBHOOK_SWEEP_LIMIT]
    )
    if due_ids:
        Delivery.objects.filter(id__in=due_ids, status=DeliveryStatus.PENDING).update(
            message_due_at=now
        )
        queue.deliveries_enqueue(due_ids)
    return len(due_ids)
