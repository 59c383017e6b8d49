"""What an operator does to deliveries, from the console or the API:
redeliver now, requeue, recover a period's failures, send a test."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from core.ids import uuid7
from deliveries import http, queue
from deliveries.http import SendResult
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from deliveries.pipeline.outcome import decide, judged
from deliveries.pipeline.record import attempt_build, outcomes_record
from deliveries.pipeline.request import delivery_request
from hooks.destinations import check_payload_url
from hooks.models import Webhook


class DeliveryInFlight(Exception):
    """A worker holds this delivery right now."""


def delivery_redeliver(*, delivery: Delivery) -> tuple[Delivery, DeliveryAttempt]:
    """One more attempt, now, in this process: same webhook-id, recorded like
    any other. On failure the retry policy decides what follows (a delivery
    that had used all its attempts ends failed again)."""
    now = timezone.now()
    token = uuid.uuid4()
    claimed = (
        Delivery.objects.filter(id=delivery.id)
        .exclude(status=DeliveryStatus.SENDING)
        .update(
            status=DeliveryStatus.SENDING,
            claim_token=token,
            lease_expires_at=now + dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS),
            attempts=F("attempts") + 1,
            next_attempt_at=now,
            finished_at=None,
            message_due_at=None,
        )
    )
    if not claimed:
        raise DeliveryInFlight(f"Delivery {delivery.id} is being sent by a worker right now.")
    delivery = Delivery.objects.select_related("event", "webhook__domain").get(id=delivery.id)
    started_at = timezone.now()
    request = delivery_request(delivery, timestamp=int(started_at.timestamp()))
    result = judged(delivery, http.get_sender().send(request))
    attempt = attempt_build(delivery, request.url, request.headers, result, started_at)
    outcomes_record(token, [(delivery, attempt, decide(delivery, result, now=timezone.now()))])
    delivery.refresh_from_db()
    return delivery, attempt


def queue_again(deliveries: QuerySet[Delivery]) -> int:
    """Make these deliveries due now and wake the workers for them, after
    commit. Rows a worker is sending right now are left alone (locked first,
    so the count is exactly what was queued)."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            deliveries.exclude(status=DeliveryStatus.SENDING)
            .select_for_update()
            .values_list("id", flat=True)
        )
        count = 0
        # In chunks: SQLite caps the variables of one statement (32,766).
        for start in range(0, len(ids), 1000):
            count += Delivery.objects.filter(id__in=ids[start : start + 1000]).update(
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
                finished_at=None,
                message_due_at=now,
            )
        transaction.on_commit(lambda: queue.deliveries_enqueue(ids))
    return count


def deliveries_requeue(delivery_ids: Iterable[uuid.UUID]) -> int:
    """Queue these deliveries for one more attempt by the workers, now,
    whatever their outcome so far (the console's bulk redeliver). Deliveries
    a worker is sending right now are left alone. Returns how many were queued.

    Like any retry, the attempt counts: a delivery that had used all its
    attempts ends failed again if this one fails too."""
    return queue_again(Delivery.objects.filter(id__in=list(delivery_ids)))


SAMPLE_DATA = {"message": "This is a test delivery. It is not recorded.", "test": True}


def webhook_test_send(
    *,
    webhook: Webhook,
    event_type: str = "TEST",
    data: dict | None = None,
    payload_url: str | None = None,
    secret: str | None = None,
    ssl_verification: bool | None = None,
) -> SendResult:
    """Send a sample event to a webhook (saved or not) now; nothing is stored.

    payload_url, secret and ssl_verification, when given, replace the
    webhook's for this send only (CloudStack's executeWebhookDelivery): the
    webhook is copied, never saved. The request is built and vetted exactly
    as a real delivery's is (deliveries.http checks the destination again
    when it resolves the host)."""
    if payload_url is not None or secret is not None or ssl_verification is not None:
        webhook = copy.copy(webhook)
        if payload_url is not None:
            check_payload_url(payload_url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_IPS)
            webhook.payload_url = payload_url
        if secret is not None:
            # Only this secret signs: not the rotated-out one of the webhook.
            webhook.secret, webhook.previous_secret = secret, ""
        if ssl_verification is not None:
            webhook.ssl_verification = ssl_verification
    event = Event(
        id=uuid7(),
        type=event_type,
        account_id=webhook.account_id,
        domain_id=webhook.domain_id,
        data=data or SAMPLE_DATA,
        occurred_at=timezone.now(),
    )
    # An unsaved delivery: the very request a real one would send.
    unsaved = Delivery(event=event, webhook=webhook)
    result = http.get_sender().send(
        delivery_request(unsaved, timestamp=int(event.occurred_at.timestamp()))
    )
    return judged(unsaved, result)  # judged as a delivery's answer would be
