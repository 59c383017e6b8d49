"""Event in, deliveries out: one transaction, Celery work only after commit."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Collection
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core import jsontext
from deliveries import alarms, metrics, queue
from deliveries.models import Delivery, Event, IncidentState
from deliveries.publish_rows import DeliveryRow, event_insert
from hooks.callhooks import recipients_to_receive
from hooks.health import Circuit
from hooks.models import Account, Domain, Webhook
from hooks.selectors import Recipient, event_domain

log = logging.getLogger(__name__)


class EventConflict(Exception):
    """An event id that is already used by an event with different contents."""


@dataclass(frozen=True)
class EventActor:
    """Who did what an event tells: a user id and name as the producer's
    system knows them (MyCloudIT's UserId; Xen Orchestra's userId, userName)."""

    id: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        # The columns' bound (Event.actor_id, actor_name), said up front:
        # PostgreSQL would refuse the row only at the insert.
        for part in ("id", "name"):
            if len(getattr(self, part)) > 255:
                raise ValueError(f"The actor's {part} is over 255 characters.")

    @classmethod
    def of_user(cls, user: Any) -> EventActor:
        """A login here as the actor (the API's default: its caller)."""
        return cls(id=str(user.pk), name=user.get_username())


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
    actor: EventActor | None = None,
    incident_key: str = "",
    incident_state: str = "",
) -> PublishResult:
    """Store an event and one pending delivery per matching webhook, atomically.

    For producers in this Django project (the REST API calls it too). The
    deliveries are queued to Celery after the transaction commits, so a
    rolled-back caller sends nothing. Publishing an id again returns the
    stored event if the contents are the same and raises EventConflict if not.

    `data` is serialised once, here (core.jsontext.dumps): that text is what
    receivers get, numbers and key order as given (the API's parser keeps the
    text of each number it read).

    `actor` says who acted (none by default); the account is on whose
    behalf. A republished id keeps the actor it was first published with.

    An alarm names its incident (`incident_key`) and says whether it is
    firing (the default with a key) or resolved: a newer event of an
    incident ends the repeats of its older ones (deliveries/alarms.py).
    """
    incident_state = _incident_state(incident_key, incident_state)
    exclude = set(exclude)
    domain = event_domain(account=account, domain=domain)
    event = Event(
        id=event_id or Event._meta.pk.default(),
        type=type,
        account=account,
        domain=domain,
        resource_id=resource_id,
        resource_type=resource_type,
        actor_id=actor.id if actor else "",
        actor_name=actor.name if actor else "",
        data=data,
        data_json=jsontext.dumps(data),
        occurred_at=occurred_at or timezone.now(),
        incident_key=incident_key,
        incident_state=incident_state,
    )
    with transaction.atomic() if _needs_transaction(incident_key) else nullcontext():
        _commit_durably()
        recipients = recipients_to_receive(
            event_type=type,
            data=data,
            account_id=account.id if account else None,
            domain=domain,
        )
        now = timezone.now()
        rows = [_delivery_row(r, now=now) for r in recipients if r.id not in exclude]
        # A fresh time-ordered id cannot clash; a given one may be taken
        # (a producer's retry, or two of them racing): then nothing is written.
        if not event_insert(event, rows, now=now):
            existing = Event.objects.filter(id=event.id).first()
            if existing is None:  # deleted since (the purge): as a failed insert did
                raise IntegrityError(f"Event {event.id} exists and does not.")
            return _republished(existing, event, occurred_at is not None)
        if incident_key:
            alarms.repeats_stop(event, now=now)
        ids = [row.id for row in rows if row.message_due_at is not None]
        if ids:
            transaction.on_commit(lambda: queue.deliveries_enqueue(ids))
    # Counted here, not on commit (no callback for an event nobody wants): a
    # caller's own transaction that rolls back later is still counted.
    metrics.events_published(len(rows))
    return PublishResult(event=event, created=True, delivery_count=len(rows))


def _incident_state(key: str, state: str) -> str:
    if not key:
        if state:
            raise ValueError("incident_state needs an incident_key: the incident it is about.")
        return ""
    if not state:
        return IncidentState.FIRING
    if state not in IncidentState.values:
        raise ValueError(f"incident_state must be one of {', '.join(IncidentState.values)}.")
    return state


def _delivery_row(recipient: Recipient, *, now: dt.datetime) -> DeliveryRow:
    retry_at = recipient.circuit_retry_at
    if recipient.circuit == Circuit.OPEN and retry_at and retry_at > now:
        # Held from the start: due at the endpoint's probe, no message before.
        return DeliveryRow(Delivery._meta.pk.default(), recipient.id, retry_at, None)
    return DeliveryRow(Delivery._meta.pk.default(), recipient.id, now, now)


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


def _needs_transaction(incident_key: str) -> bool:
    """Whether publishing needs a transaction (or savepoint) of its own.

    On PostgreSQL the event and its deliveries are one INSERT statement
    (deliveries/publish_rows.py), atomic by itself: in autocommit mode no
    BEGIN and COMMIT (two of a publish's four round trips), inside a
    caller's transaction no savepoint (two more a call, twenty for a batch
    of ten). Without the savepoint, a database error while publishing fails
    the caller's transaction, as a failed statement of its own would; an
    EventConflict or a refused argument, raised in Python, leaves it as it
    was. An incident's event also ends its older ones' repeats
    (alarms.repeats_stop), a worker's session must turn its commits durable
    (_commit_durably), and SQLite writes with the ORM: those take one.

    The webhooks are read by a statement before the insert, as they were
    inside a transaction: under READ COMMITTED either way, a webhook
    committed between the two is not among them."""
    connection = transaction.get_connection()
    return (
        connection.vendor != "postgresql"
        or bool(incident_key)
        or getattr(connection, "commits_without_waiting", False)
    )


def _commit_durably() -> None:
    """An accepted event outlives a database crash: the transaction storing it
    waits for the disk even in a worker, whose sessions otherwise do not
    (WEBHOOK_WORKER_SYNCHRONOUS_COMMIT: operational events, and whatever
    else a worker publishes). Nothing to do, and no statement, elsewhere."""
    connection = transaction.get_connection()
    if getattr(connection, "commits_without_waiting", False):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO on")


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
        and existing.incident_key == new.incident_key
        and existing.incident_state == new.incident_state
        # A producer retrying without a timestamp gets a new "now": only an
        # explicit, different timestamp makes the repeat a conflict.
        and (not timestamp_given or existing.occurred_at == new.occurred_at)
    )
    if not same:
        raise EventConflict(f"Event {existing.id} exists with different contents.")
    return PublishResult(event=existing, created=False, delivery_count=existing.deliveries.count())
