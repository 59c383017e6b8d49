"""Claim, send, record, sweep: what a worker does with a delivery.

The database is the source of truth. A Celery message carries delivery ids
and only wakes a worker; `deliveries_send` claims the ones still due with a
conditional UPDATE, so a duplicated or replayed message finds nothing to do.
Attempts are counted in the delivery row, never in Celery's retry counter.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from deliveries.http import OutgoingRequest, Response, get_sender
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from deliveries.publishing import enqueue
from deliveries.retry import RetryPolicy, retry_delay
from deliveries.signing import cloudstack_signature, standard_signature
from hooks.models import HeaderStyle, Webhook
from webhooks_project.ids import uuid7

REDACTED = "[redacted]"
_SECRET_HEADERS = {"authorization"}


# --- building the request ---------------------------------------------------


def event_body(event: Event) -> bytes:
    """The exact bytes POSTed for an event: compact JSON, the same on every try."""
    return json.dumps(event.envelope(), separators=(",", ":"), ensure_ascii=False).encode()


def delivery_headers(
    *, webhook: Webhook, event: Event, body: bytes, timestamp: int
) -> list[tuple[str, str]]:
    """Headers for one attempt, in the webhook's chosen style.

    While a rotated-out secret is still in its overlap window, Standard-style
    requests carry both signatures (space-separated, as the spec allows), so a
    receiver holding either secret verifies them.
    """
    msg_id = str(event.id)
    secrets = webhook.signing_secrets(now=dt.datetime.fromtimestamp(timestamp, tz=dt.UTC))
    headers = [("Content-Type", "application/json")]
    if webhook.header_style == HeaderStyle.CLOUDSTACK:
        headers += [
            ("User-Agent", f"CS-Hookshot/{event.account_id or ''}"),
            ("X-CS-Event-ID", msg_id),
            ("X-CS-Event", event.type),
        ]
        if secrets:
            # One signature only: CloudStack receivers expect a single value.
            headers.append(("X-CS-Signature", cloudstack_signature(secret=secrets[0], body=body)))
    else:
        headers += [
            ("User-Agent", settings.WEBHOOK_USER_AGENT),
            ("webhook-id", msg_id),
            ("webhook-timestamp", str(timestamp)),
        ]
        if secrets:
            signatures = [
                standard_signature(secret=s, msg_id=msg_id, timestamp=timestamp, body=body)
                for s in secrets
            ]
            headers.append(("webhook-signature", " ".join(signatures)))
    if webhook.auth_username or webhook.auth_password:
        token = base64.b64encode(f"{webhook.auth_username}:{webhook.auth_password}".encode())
        headers.append(("Authorization", "Basic " + token.decode()))
    headers.extend(webhook.headers.items())
    return headers


def redacted(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k: (REDACTED if k.lower() in _SECRET_HEADERS else v) for k, v in headers}


def attempt_timeout(webhook: Webhook) -> float:
    # Half the lease at most: a claim must outlive the slowest request in it.
    return min(webhook.effective_timeout, settings.WEBHOOK_LEASE_SECONDS / 2)


# --- claiming ---------------------------------------------------------------


def deliveries_claim(delivery_ids: Sequence[str | uuid.UUID]) -> tuple[uuid.UUID, list[Delivery]]:
    """Take the due, pending deliveries among these ids for this worker, and
    other due ones up to WEBHOOK_BATCH_SIZE.

    One conditional UPDATE of rows it has locked with SKIP LOCKED: exactly
    one claimant locks each row and sees it as pending, and none ever waits
    for another (SQLite serialises writers). Its RETURNING clause says what
    we got.

    Taking other due deliveries turns a message per small event into full
    batches under load: fewer messages, queries and round trips per
    delivery. Their own messages then find nothing, which is harmless.
    """
    now = timezone.now()
    token = uuid.uuid4()
    room = settings.WEBHOOK_BATCH_SIZE - len(delivery_ids)
    claimed = _claim_update(delivery_ids, now=now, token=token, room=room)
    if not claimed:
        return token, []
    # Events and webhooks by primary key: two lookups whose plan never
    # depends on table statistics, unlike a three-table join (which, on
    # tables not yet analysed, hashed the whole event table on every claim).
    # in_bulk rather than prefetch_related_objects: the same queries, at a
    # fraction of the Python (prefetching was a fifth of a worker's CPU).
    events = Event.objects.in_bulk({d.event_id for d in claimed})
    webhooks = Webhook.objects.in_bulk({d.webhook_id for d in claimed})
    for delivery in claimed:
        delivery.event = events[delivery.event_id]
        delivery.webhook = webhooks[delivery.webhook_id]
    return token, claimed


def _claim_update(
    delivery_ids: Sequence[str | uuid.UUID], *, now: dt.datetime, token: uuid.UUID, room: int
) -> list[Delivery]:
    """The claim's UPDATE … RETURNING, in SQL that PostgreSQL and SQLite
    (3.35+) both run; returns the claimed rows as they are after it.

    Raw SQL because the ORM's update() returns a count, not the rows: reading
    the claimed rows back by token cost a second query, and the transaction
    around the two a BEGIN and a COMMIT more, on every message. A single
    statement in autocommit mode is atomic by itself.
    """
    connection = connections[Delivery.objects.db]
    meta = Delivery._meta
    qn = connection.ops.quote_name
    table = qn(meta.db_table)

    def column(name: str) -> str:
        return qn(meta.get_field(name).column)

    def value(name: str, v: Any) -> Any:
        return meta.get_field(name).get_db_prep_value(v, connection)

    pk = column("id")
    due = f"{column('status')} = %s AND {column('next_attempt_at')} <= %s"
    due_params = [DeliveryStatus.PENDING.value, value("next_attempt_at", now)]
    # Every row is taken through a SKIP LOCKED subquery, the message's own
    # ones too: a claim never waits for another claimant. If it did, two
    # claims could each hold rows the other's UPDATE wants (A's top-up takes
    # B's rows while B's takes A's): a deadlock, which PostgreSQL breaks
    # only after deadlock_timeout (1 s), failing one of the tasks. A row we
    # skip is held by another claim, which takes it, or by the sweeper,
    # which queues it again.
    skip_locked = (
        " FOR UPDATE SKIP LOCKED"
        if connection.features.has_select_for_update_skip_locked
        else ""  # SQLite: one writer at a time, nothing to skip
    )
    own_ids = [value("id", i) for i in delivery_ids]
    own = f"{pk} IN ({', '.join(['%s'] * len(own_ids))})"
    # Each part is a subquery in FROM (FOR UPDATE and LIMIT cannot stand in a
    # UNION's branches), and all of it a MATERIALIZED CTE, run exactly once:
    # as a subquery of the UPDATE, PostgreSQL may re-run it for every row it
    # joins, and each re-run skips the rows just updated and takes the next
    # ones, past the LIMIT. The UPDATE then looks the rows up by key.
    parts, part_params = [], []
    if own_ids:
        # By key alone: with the due test here too, PostgreSQL may scan the
        # whole due index (every row waiting) for a handful of ids. The
        # UPDATE applies the due test; it only briefly locks the rest.
        parts.append(f"SELECT {pk} FROM {table} WHERE {own}{skip_locked}")
        part_params += own_ids
    if room > 0:
        not_own = f" AND NOT {own}" if own_ids else ""
        parts.append(
            f"SELECT {pk} FROM {table} WHERE {due}{not_own} "
            f"ORDER BY {column('next_attempt_at')} LIMIT %s{skip_locked}"
        )
        part_params += [*due_params, *own_ids, room]
    if not parts:
        return []
    picked = " UNION ALL ".join(
        f"SELECT {pk} FROM ({part}) AS part{i}" for i, part in enumerate(parts)
    )
    lease = now + dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    sql = (
        f"WITH picked AS MATERIALIZED ({picked}) "
        f"UPDATE {table} SET {column('status')} = %s, {column('claim_token')} = %s, "
        f"{column('lease_expires_at')} = %s, "
        f"{column('attempts')} = {column('attempts')} + 1, "
        f"{column('message_due_at')} = NULL "
        # The due test is on the UPDATE itself too, not only in the subqueries:
        # the rows they lock are re-read as they are now.
        f"WHERE {pk} IN (SELECT {pk} FROM picked) AND {due} "
        f"RETURNING {', '.join(qn(f.column) for f in meta.concrete_fields)}"
    )
    params = [
        *part_params,
        DeliveryStatus.SENDING.value,
        value("claim_token", token),
        value("lease_expires_at", lease),
        *due_params,
    ]
    # raw() turns the returned rows into instances, with the backend's
    # converters (SQLite hands back text for UUIDs and datetimes).
    return list(Delivery.objects.raw(sql, params))


# --- outcome of an attempt ----------------------------------------------------


@dataclass
class Outcome:
    status: str
    next_attempt_at: dt.datetime | None
    finished_at: dt.datetime | None
    last_status_code: int | None
    last_error: str
    retry_in: float | None  # seconds, when retried


def decide(delivery: Delivery, response: Response, *, now: dt.datetime) -> Outcome:
    """What happens to a delivery after an attempt: done, retried later, or failed."""
    if response.ok:
        return Outcome(DeliveryStatus.SUCCEEDED, None, now, response.status_code, "", None)
    policy = RetryPolicy.from_settings(max_attempts=delivery.webhook.effective_max_attempts)
    delay = retry_delay(policy, attempts_made=delivery.attempts, rand=random.random())
    error = response.summary
    if delay is None:
        return Outcome(DeliveryStatus.FAILED, None, now, response.status_code, error, None)
    next_at = now + dt.timedelta(seconds=delay)
    return Outcome(DeliveryStatus.PENDING, next_at, None, response.status_code, error, delay)


def _attempt(
    delivery: Delivery, request_url: str, headers, response: Response, started_at: dt.datetime
) -> DeliveryAttempt:
    return DeliveryAttempt(
        delivery_id=delivery.id,
        number=delivery.attempts,
        started_at=started_at,
        duration_ms=response.duration_ms,
        url=request_url,
        request_headers=redacted(headers),
        response_status=response.status_code,
        response_headers=response.headers,
        response_body=response.body.decode("utf-8", errors="replace"),
        response_truncated=response.body_truncated,
        error_class=response.error_class,
        error_message=response.error_message,
    )


def record_outcomes(
    token: uuid.UUID | None,
    results: Sequence[tuple[Delivery, DeliveryAttempt, Outcome]],
) -> int:
    """Write attempts and delivery states in bulk; queue the near retries.

    Delivery rows are updated only where our claim still holds (same token),
    so a worker that overran its lease cannot undo what a later one wrote.
    Returns how many delivery rows were updated.
    """
    if not results:
        return 0
    ids = [d.id for d, _, _ in results]
    scope = Delivery.objects.all()
    scope = scope.filter(claim_token=token) if token else scope.filter(claim_token__isnull=True)
    near_retries: dict[int, list[uuid.UUID]] = defaultdict(list)
    # One UPDATE per distinct outcome: the successes of a round share one;
    # each retry has its own time (jitter). Cheaper on PostgreSQL than one
    # UPDATE with a CASE per column, which it evaluates branch by branch.
    groups: dict[tuple, list[uuid.UUID]] = defaultdict(list)
    message_due = []
    for delivery, _, outcome in results:
        due = None
        if outcome.retry_in is not None and outcome.retry_in <= settings.WEBHOOK_ETA_MAX:
            due = outcome.next_attempt_at
        message_due.append((delivery.id, due))
        key = (
            outcome.status,
            outcome.next_attempt_at,
            outcome.finished_at,
            outcome.last_status_code,
            outcome.last_error,
            due,
        )
        groups[key].append(delivery.id)
    with transaction.atomic():
        # Delivery rows first: the UPDATE locks them, and its count tells
        # whether every row still exists and is still ours, the usual case.
        updated = 0
        for (status, next_at, finished, code, error, due), group in groups.items():
            updated += scope.filter(id__in=group).update(
                status=status,
                next_attempt_at=next_at,
                finished_at=finished,
                last_status_code=code,
                last_error=error,
                message_due_at=due,
                claim_token=None,
                lease_expires_at=None,
            )
        attempts = [a for _, a, _ in results]
        if updated < len(ids):
            # Not all were ours: keep the attempts whose delivery still exists
            # (locked, so it cannot vanish before the INSERT). A webhook or
            # account deleted mid-send cascades to its deliveries, and one
            # orphan attempt must not sink the recording of the whole batch.
            # An attempt of a claim that has expired is still history: kept.
            existing = set(
                Delivery.objects.select_for_update().filter(id__in=ids).values_list("id", flat=True)
            )
            attempts = [a for d, a, _ in results if d.id in existing]
        DeliveryAttempt.objects.bulk_create(attempts)
    for (delivery, _, outcome), (_, due) in zip(results, message_due, strict=True):
        if due is not None:
            # Group retries by the whole second they fall due, one message a group;
            # the countdown rounds up so no delivery is woken before it is due.
            near_retries[math.ceil(outcome.retry_in)].append(delivery.id)
    for seconds, group in near_retries.items():
        enqueue(group, countdown=seconds)
    return updated


# --- sending ------------------------------------------------------------------


def delivery_request(
    delivery: Delivery, *, timestamp: int, bodies: dict[uuid.UUID, bytes] | None = None
) -> OutgoingRequest:
    """The request for one attempt of a delivery (bodies: a per-batch cache,
    since one event goes to many webhooks with the same bytes)."""
    event, webhook = delivery.event, delivery.webhook
    body = bodies.get(event.id) if bodies is not None else None
    if body is None:
        body = event_body(event)
        if bodies is not None:
            bodies[event.id] = body
    return OutgoingRequest(
        url=webhook.payload_url,
        headers=delivery_headers(webhook=webhook, event=event, body=body, timestamp=timestamp),
        body=body,
        timeout=attempt_timeout(webhook),
        connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT,
        verify_tls=webhook.ssl_verification,
        key=delivery.id,
    )


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

    def on_done(done: list[tuple[OutgoingRequest, Response]]) -> None:
        now = timezone.now()
        results = []
        for request, response in done:
            delivery = by_id[request.key]
            attempt = _attempt(delivery, request.url, request.headers, response, started_at)
            results.append((delivery, attempt, decide(delivery, response, now=now)))
        record_outcomes(token, results)

    get_sender().send_many(requests, on_done, linger=settings.WEBHOOK_RECORD_LINGER_MS / 1000)
    return len(claimed)


# --- sweeping -----------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    requeued: int
    expired: int


def deliveries_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Make sure every unfinished delivery will be worked on. Run by beat.

    1. A claim whose lease ran out belongs to a worker that died (or hung past
       its hard time limit) mid-attempt. Nobody knows whether the receiver got
       it: record the attempt as lost and let the retry policy decide.
    2. A pending delivery that is due and has no message in flight (a lost
       enqueue, a flushed Redis, a retry too far off to ride in Redis) is queued.
    """
    now = now or timezone.now()
    expired = 0
    stale = list(
        Delivery.objects.filter(status=DeliveryStatus.SENDING, lease_expires_at__lt=now)
        .select_related("webhook", "event")
        .order_by("lease_expires_at")[: settings.WEBHOOK_SWEEP_LIMIT]
    )
    by_token: dict[uuid.UUID, list] = defaultdict(list)
    for delivery in stale:
        response = Response(
            error_class="WorkerLost",
            error_message=(
                f"no result was recorded before the claim expired at "
                f"{delivery.lease_expires_at:%Y-%m-%d %H:%M:%S}Z; the worker stopped "
                f"mid-attempt, and the receiver may or may not have the request"
            ),
        )
        attempt = _attempt(delivery, delivery.webhook.payload_url, [], response, now)
        attempt.started_at = delivery.lease_expires_at - dt.timedelta(
            seconds=settings.WEBHOOK_LEASE_SECONDS
        )
        by_token[delivery.claim_token].append(
            (delivery, attempt, decide(delivery, response, now=now))
        )
    for token, results in by_token.items():
        expired += record_outcomes(token, results)

    overdue = now - dt.timedelta(seconds=settings.WEBHOOK_SWEEP_GRACE)
    lost_before = now - dt.timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER)
    due_ids = list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=overdue)
        .filter(Q(message_due_at__isnull=True) | Q(message_due_at__lte=lost_before))
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[: settings.WEBHOOK_SWEEP_LIMIT]
    )
    if due_ids:
        Delivery.objects.filter(id__in=due_ids, status=DeliveryStatus.PENDING).update(
            message_due_at=now
        )
        enqueue(due_ids)
    return SweepResult(requeued=len(due_ids), expired=expired)


# --- operator actions -----------------------------------------------------------


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
    delivery = Delivery.objects.select_related("event", "webhook").get(id=delivery.id)
    started_at = timezone.now()
    request = delivery_request(delivery, timestamp=int(started_at.timestamp()))
    response = get_sender().send(request)
    attempt = _attempt(delivery, request.url, request.headers, response, started_at)
    record_outcomes(token, [(delivery, attempt, decide(delivery, response, now=timezone.now()))])
    delivery.refresh_from_db()
    return delivery, attempt


def _queue_again(deliveries: QuerySet[Delivery]) -> int:
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
        transaction.on_commit(lambda: enqueue(ids))
    return count


def deliveries_recover(
    *, webhook: Webhook, since: dt.datetime, until: dt.datetime, dry_run: bool = False
) -> int:
    """Queue every failed delivery of a webhook created in [since, until) for
    one more attempt. With dry_run, only count them."""
    failed = Delivery.objects.filter(
        webhook=webhook, status=DeliveryStatus.FAILED, created_at__gte=since, created_at__lt=until
    )
    if dry_run:
        return failed.count()
    return _queue_again(failed)


def deliveries_requeue(delivery_ids: Iterable[uuid.UUID]) -> int:
    """Queue these deliveries for one more attempt by the workers, now,
    whatever their outcome so far (the console's bulk redeliver). Deliveries
    a worker is sending right now are left alone. Returns how many were queued.

    Like any retry, the attempt counts: a delivery that had used all its
    attempts ends failed again if this one fails too."""
    return _queue_again(Delivery.objects.filter(id__in=list(delivery_ids)))


SAMPLE_DATA = {"message": "This is a test delivery. It is not recorded.", "test": True}


def webhook_test_send(
    *, webhook: Webhook, event_type: str = "TEST", data: dict | None = None
) -> Response:
    """Send a sample event to a webhook (saved or not) now; nothing is stored.

    The request is built and vetted exactly as a real delivery's is."""
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
    return get_sender().send(
        delivery_request(unsaved, timestamp=int(event.occurred_at.timestamp()))
    )
