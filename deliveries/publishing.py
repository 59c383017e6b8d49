"""Event in, deliveries out: one transaction, Celery work only after commit."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from core import jsontext
from deliveries import metrics, queue
from deliveries.models import Delivery, Event
from hooks.health import Circuit
from hooks.models import Account, Domain, Webhook
from hooks.selectors import event_domain, webhooks_for_event

log = logging.getLogger(__name__)


class EventConflict(Exception):
    """An event id that is already used by an event with different contents."""


@dataclass(frozen=True)
class PublishResult:
    event: Event
    created: bool
    delivery_count: int


def event_publish(
    *,
    type: str,
    data: dict,
    account: Account | None = None,
    domain: Domain | None = None,
    resource_id: str = "",
    resource_type: str = "",
    occurred_at: dt.datetime | None = None,
    event_id: uuid.UUID | None = None,
    exclude: Collection[uuid.UUID] = (),
) -> PublishResult:
    """Store an event and one pending delivery per matching webhook, atomically.

    For producers in this Django project (the REST API calls it too). The
    deliveries are queued to Celery after the transaction commits, so a
    rolled-back caller sends nothing. Publishing an id again returns the
    stored event if the contents are the same and raises EventConflict if not.

    `data` is serialised once, here (core.jsontext.dumps): that text is what
    receivers get, numbers and key order as given (the API's parser keeps the
    text of each number it read).
    """
    exclude = set(exclude)
    domain = event_domain(account=account, domain=domain)
    event = Event(
        id=event_id or Event._meta.pk.default(),
        type=type,
        account=account,
        domain=domain,
        resource_id=resource_id,
        resource_type=resource_type,
        data=data,
        data_json=jsontext.dumps(data),
        occurred_at=occurred_at or timezone.now(),
    )
    with transaction.atomic():
        if event_id is not None:
            existing = Event.objects.filter(id=event_id).first()
            if existing is not None:
                return _republished(existing, event, occurred_at is not None)
        if event_id is None:
            event.save(force_insert=True)  # a fresh time-ordered id: no clash possible
        else:
            try:
                with transaction.atomic():  # savepoint: a racing duplicate id lands here
                    event.save(force_insert=True)
            except IntegrityError:
                existing = Event.objects.filter(id=event.id).first()
                if existing is None:
                    raise
                return _republished(existing, event, occurred_at is not None)
        now = timezone.now()
        deliveries = Delivery.objects.bulk_create(
            _delivery_for(event, webhook, now=now)
            for webhook in webhooks_for_event(
                event_type=type, account_id=account.id if account else None, domain=domain
            )
            if webhook.id not in exclude
        )
        ids = [d.id for d in deliveries if d.message_due_at is not None]
        if ids:
            transaction.on_commit(lambda: queue.deliveries_enqueue(ids))
    # Counted here, not on commit (no callback for an event nobody wants): a
    # caller's own transaction that rolls back later is still counted.
    metrics.events_published(len(deliveries))
    return PublishResult(event=event, created=True, delivery_count=len(deliveries))


def _delivery_for(event: Event, webhook: Webhook, *, now: dt.datetime) -> Delivery:
    if (
        webhook.circuit == Circuit.OPEN
        and webhook.circuit_retry_at
        and webhook.circuit_retry_at > now
    ):
        # Held from the start: due at the endpoint's probe, no message before.
        return Delivery(event=event, webhook=webhook, next_attempt_at=webhook.circuit_retry_at)
    return Delivery(event=event, webhook=webhook, next_attempt_at=now, message_due_at=now)


# The platform's own events about its endpoints (docs/operations.md#operational-events).
OPERATIONAL_EVENT_TYPES = frozenset(
    {
        "webhook.circuit_opened",
        "webhook.circuit_closed",
        "webhook.disabled",
        "webhook.recovered",
        "delivery.exhausted",
    }
)


def operational_event_publish(
    type: str, *, webhook: Webhook, data: dict, about: Delivery | None = None
) -> None:
    """Tell operators, through the pipeline itself, what happened to an endpoint.

    Published in the endpoint's tenancy (its account and domain), so its
    owners' webhooks and global ones can subscribe. Never about itself to
    itself, and never about a delivery of an operational event: an endpoint
    that fails to receive these must not make more of them without end.
    Never raises: health bookkeeping must not fail a batch's recording.
    """
    if about is not None and about.event.type in OPERATIONAL_EVENT_TYPES:
        return
    payload = {
        "webhook": {"id": str(webhook.id), "name": webhook.name, "url": webhook.payload_url},
        **data,
    }
    try:
        event_publish(
            type=type,
            data=payload,
            account=webhook.account,
            domain=webhook.domain,
            resource_id=str(webhook.id),
            resource_type="webhook",
            exclude={webhook.id},
        )
    except Exception:
        log.exception("could not publish the operational event %s for webhook %s", type, webhook.id)


def _republished(existing: Event, new: Event, timestamp_given: bool) -> PublishResult:
    same = (
        existing.type == new.type
        # Compared as values (the stored text read back), not as jsonb gave
        # them back: it reads 6.02e23 as an int, unequal to the float.
        and (jsontext.loads(existing.data_json) if existing.data_json else existing.data)
        == new.data
        and existing.account_id == new.account_id
        and existing.domain_id == new.domain_id
        and existing.resource_id == new.resource_id
        and existing.resource_type == new.resource_type
        # A producer retrying without a timestamp gets a new "now": only an
        # explicit, different timestamp makes the repeat a conflict.
        and (not timestamp_given or existing.occurred_at == new.occurred_at)
    )
    if not same:
        raise EventConflict(f"Event {existing.id} exists with different contents.")
    return PublishResult(event=existing, created=False, delivery_count=existing.deliveries.count())
