"""A worker's job for one message: claim, build each request, send them all
at once through deliveries.http, record each group of results as it lands.

While slow requests are still in flight, the worker goes on claiming other
due deliveries and sends them beside the slow ones: a receiver that hangs
holds one sending slot (and one of its endpoint's WEBHOOK_MAX_IN_FLIGHT),
never the worker process. Each claim has its own token; each result is
recorded under the claim it came from.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from deliveries import http
from deliveries.http import OutgoingRequest, SendResult
from deliveries.models import Delivery, DeliveryAttempt
from deliveries.pipeline.claim import deliveries_claim
from deliveries.pipeline.health import endpoints_gone, endpoints_update
from deliveries.pipeline.outcome import Outcome, decide, judged
from deliveries.pipeline.record import attempt_build, outcomes_record
from deliveries.pipeline.request import Bodies, delivery_request


@dataclass(slots=True)
class _Claimed:
    delivery: Delivery
    token: uuid.UUID
    started_at: dt.datetime


class _Batch:
    """The deliveries one task is sending, from every claim it made."""

    def __init__(self) -> None:
        self.by_id: dict[uuid.UUID, _Claimed] = {}
        self.bodies: Bodies = {}
        self.claimed = 0
        # Whether more due work is likely: a claim came back full (a backlog),
        # or a circuit closed here and made its held deliveries due (then
        # until a claim finds nothing). The task claims again once its
        # transfers are done, rather than leave the rest to the next message
        # or the sweeper.
        self.more = False
        self.draining = False

    def requests_for(self, token: uuid.UUID, deliveries: list[Delivery]) -> list[OutgoingRequest]:
        started_at = timezone.now()
        timestamp = int(started_at.timestamp())
        self.claimed += len(deliveries)
        requests = []
        for delivery in deliveries:
            self.by_id[delivery.id] = _Claimed(delivery, token, started_at)
            requests.append(delivery_request(delivery, timestamp=timestamp, bodies=self.bodies))
        return requests

    def refill(self, free: int) -> list[OutgoingRequest]:
        room = min(free, settings.WEBHOOK_BATCH_SIZE)
        token, claimed = deliveries_claim([], room=room)
        self.more = self.more or len(claimed) >= room
        return self.requests_for(token, claimed) if claimed else []

    def record(self, done: list[tuple[OutgoingRequest, SendResult]]) -> None:
        now = timezone.now()
        by_token: dict[uuid.UUID, list[tuple[Delivery, DeliveryAttempt, Outcome]]]
        by_token = defaultdict(list)
        for request, result in done:
            item = self.by_id.pop(request.key)
            delivery = item.delivery
            result = judged(delivery, result)  # the attempt records what decide sees
            attempt = attempt_build(delivery, request.url, request.headers, result, item.started_at)
            by_token[item.token].append((delivery, attempt, decide(delivery, result, now=now)))
        everything = [r for results in by_token.values() for r in results]
        endpoints_gone(everything, now=now)
        for token, results in by_token.items():
            outcomes_record(token, results)
        if endpoints_update(everything, now=now):
            self.draining = True


def deliveries_send(delivery_ids: Sequence[str | uuid.UUID]) -> int:
    """Claim these deliveries if still due, send them concurrently, record each;
    while any is slow, claim and send more due work beside it.

    Returns how many were claimed (0 for a duplicate or stale message).
    """
    token, claimed = deliveries_claim(delivery_ids)
    if not claimed:
        return 0
    batch = _Batch()
    batch.more = len(claimed) >= settings.WEBHOOK_BATCH_SIZE
    # Past this, no new claims: the task must end (with the slowest attempt,
    # up to half a lease) before its soft time limit (0.8 lease).
    budget = min(settings.WEBHOOK_SEND_LOOP_SECONDS, settings.WEBHOOK_LEASE_SECONDS / 4)
    stop_at = time.monotonic() + budget
    requests = batch.requests_for(token, claimed)
    while requests:
        http.get_sender().send_many(
            requests,
            batch.record,
            linger=settings.WEBHOOK_RECORD_LINGER_MS / 1000,
            concurrency=settings.WEBHOOK_SEND_SLOTS,
            refill=batch.refill,
            refill_every=settings.WEBHOOK_REFILL_MS / 1000,
            refill_after=settings.WEBHOOK_REFILL_AFTER_MS / 1000,
            refill_for=max(0.0, stop_at - time.monotonic()),
        )
        requests = []
        if (batch.more or batch.draining) and time.monotonic() < stop_at:
            batch.more = False
            requests = batch.refill(settings.WEBHOOK_BATCH_SIZE)
    return batch.claimed
