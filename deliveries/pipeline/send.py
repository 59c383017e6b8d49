"""A worker's job for one message: claim, build each request, send them all
at once through deliveries.http, record each group of results as it lands."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.conf import settings
from django.utils import timezone

from deliveries import http
from deliveries.http import OutgoingRequest, SendResult
from deliveries.pipeline.claim import deliveries_claim
from deliveries.pipeline.outcome import decide
from deliveries.pipeline.record import attempt_build, outcomes_record
from deliveries.pipeline.request import delivery_request


def deliveries_send(delivery_ids: Sequence[str | uuid.UUID]) -> int:
    """Claim these deliveries if still due, send them concurrently, record each.

    Returns how many were claimed (0 for a duplicate or stale message).
    """
    token, claimed = deliveries_claim(delivery_ids)
    if not claimed:
        return 0
    timestamp = int(timezone.now().timestamp())
    started_at = timezone.now()
    bodies: dict[uuid.UUID, bytes] = {}
    by_id = {delivery.id: delivery for delivery in claimed}
    requests = [delivery_request(d, timestamp=timestamp, bodies=bodies) for d in claimed]

    def on_done(done: list[tuple[OutgoingRequest, SendResult]]) -> None:
        now = timezone.now()
        results = []
        for request, result in done:
            delivery = by_id[request.key]
            attempt = attempt_build(delivery, request.url, request.headers, result, started_at)
            results.append((delivery, attempt, decide(delivery, result, now=now)))
        outcomes_record(token, results)

    http.get_sender().send_many(requests, on_done, linger=settings.WEBHOOK_RECORD_LINGER_MS / 1000)
    return len(claimed)
