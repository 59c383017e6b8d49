"""Write what a batch of attempts came to: the attempt rows and each delivery's
new state, in one pass; then queue the retries that are near."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from core.plaincursor import plain_cursor
from deliveries import alarms, metrics, queue
from deliveries.http import SendResult
from deliveries.models import Delivery, DeliveryAttempt
from deliveries.pipeline import rows
from deliveries.pipeline.attempt_rows import attempts_write
from deliveries.pipeline.outcome import Outcome
from deliveries.pipeline.request import redacted
from deliveries.pipeline.worker import worker_id

log = logging.getLogger(__name__)

# An attempt whose response the database would not take (kept without it).
RESPONSE_NOT_STORED = "ResponseNotStored"


def attempt_build(
    delivery: Delivery,
    request_url: str,
    headers: Iterable[tuple[str, str]],
    result: SendResult,
    started_at: dt.datetime,
    *,
    worker: str | None = None,
) -> DeliveryAttempt:
    """The (unsaved) record of one try, naming the process that sent it (this
    one unless `worker` says otherwise): a column of the bulk INSERT, no
    statement of its own."""
    return rows.new(
        DeliveryAttempt,
        {
            "delivery_id": delivery.id,
            "number": delivery.attempts,
            "started_at": started_at,
            "duration_ms": result.duration_ms,
            "url": request_url,
            "request_headers": redacted(headers),
            "response_status": result.status_code,
            "response_headers": _storable_headers(result.headers),
            "response_body": result.body,
            "response_truncated": result.body_truncated,
            "error_class": result.error_class,
            "error_message": result.error_message,
            "worker": worker_id() if worker is None else worker,
        },
    )


def _storable_headers(headers: dict[str, str]) -> dict[str, str]:
    # jsonb refuses \u0000, and a hostile receiver may send one in a header.
    return {k.replace("\x00", "\\x00"): v.replace("\x00", "\\x00") for k, v in headers.items()}


def _attempts_insert_each(attempts: list[DeliveryAttempt], cause: DatabaseError) -> None:
    """Insert the attempt rows of a batch the database refused (`cause`) as a
    whole: each alone in its own savepoint, and one still refused without its
    response, with the database's reason. The other rows, and every
    delivery's outcome (written before, in the same transaction), are never
    lost to one bad row."""
    refused = [(attempts[0], cause)] if len(attempts) == 1 else []
    if not refused:
        for attempt in attempts:
            try:
                with transaction.atomic():
                    attempt.save(force_insert=True)
            except DatabaseError as one:
                refused.append((attempt, one))
    for attempt, why in refused:
        reason = f"{type(why).__name__}: {str(why).splitlines()[0][:300]}"
        log.warning(
            "attempt %s of delivery %s stored without its response: %s",
            attempt.number,
            attempt.delivery_id,
            reason,
        )
        attempt.response_headers, attempt.response_body = {}, b""
        attempt.error_class = attempt.error_class or RESPONSE_NOT_STORED
        attempt.error_message = f"{attempt.error_message} [response not stored: {reason}]".strip()
        try:
            with transaction.atomic():
                attempt.save(force_insert=True)
        except DatabaseError:
            log.exception(
                "attempt %s of delivery %s not recorded", attempt.number, attempt.delivery_id
            )


def outcomes_record(
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
    try:
        # The usual case: every attempt row in one statement, no savepoint.
        with transaction.atomic():
            updated, attempts, kept = _deliveries_update(token, groups, results)
            attempts_write(attempts)
            repeats = _repeats_schedule(kept)
    except DatabaseError as refused:
        # A row the database would not take (a value a column cannot hold)
        # took the whole transaction with it: written again, each attempt
        # alone, only now paying a savepoint per row.
        with transaction.atomic():
            updated, attempts, kept = _deliveries_update(token, groups, results)
            _attempts_insert_each(attempts, refused)
            repeats = _repeats_schedule(kept)
    for (delivery, _, outcome), (_, due) in zip(results, message_due, strict=True):
        if due is not None and outcome.retry_in is not None:
            # Group retries by the whole second they fall due, one message a group;
            # the countdown rounds up so no delivery is woken before it is due.
            near_retries[math.ceil(outcome.retry_in)].append(delivery.id)
    for repeat_id, countdown in repeats:
        if countdown is not None:
            near_retries[math.ceil(countdown)].append(repeat_id)
    for seconds, group in near_retries.items():
        queue.deliveries_enqueue(group, countdown=seconds)
    metrics.attempts_count(results, now=timezone.now())
    return updated


Results = Sequence[tuple[Delivery, DeliveryAttempt, Outcome]]


def _repeats_schedule(kept: Results) -> list[tuple[uuid.UUID, float | None]]:
    # A finished firing alarm schedules its next repeat here, atomically
    # with its finish (deliveries/alarms.py); others cost a field test.
    return alarms.repeats_schedule(((d, o) for d, _, o in kept), now=timezone.now())


def _deliveries_update(
    token: uuid.UUID | None,
    groups: dict[tuple, list[uuid.UUID]],
    results: Results,
) -> tuple[int, list[DeliveryAttempt], Results]:
    """Write each delivery's new state; return how many rows were ours, the
    attempts to insert and the results kept (those whose delivery still
    exists)."""
    # Delivery rows first: the UPDATE locks them, and its count tells
    # whether every row still exists and is still ours, the usual case.
    # A cached statement per shape rather than QuerySet.update(): compiling
    # the filter and the eight assignments was a third of the record's CPU.
    db = Delivery.objects.db
    connection = connections[db]
    prep = {name: rows.field(Delivery, name) for name in UPDATED_COLUMNS}
    updated = 0
    # PostgreSQL: a plain cursor (server-side binding), the ids one array.
    # Not prepared: a generic plan made while the table was small could read
    # the ids through delivery_recent, whose second column is the id, a scan
    # of the whole index kept as the table grows (core/plaincursor.py).
    on_postgresql = connection.vendor == "postgresql"
    with plain_cursor(db) if on_postgresql else connection.cursor() as cursor:
        for values, group in groups.items():
            sql = _update_sql(db, 1 if on_postgresql else len(group), token is not None)
            params = [
                prep[name].get_db_prep_save(value, connection)
                for name, value in zip(UPDATED_COLUMNS, values, strict=True)
            ]
            if token is not None:
                params.append(CLAIM_TOKEN.get_db_prep_save(token, connection))
            params += rows.key_values(Delivery, group, db=db)
            cursor.execute(sql, params)
            updated += cursor.rowcount
    attempts = [a for _, a, _ in results]
    kept = results
    if updated < len(results):
        # Not all were ours: keep the attempts whose delivery still exists
        # (locked, so it cannot vanish before the INSERT). A webhook or
        # account deleted mid-send cascades to its deliveries, and one
        # orphan attempt must not sink the recording of the whole batch.
        # An attempt of a claim that has expired is still history: kept.
        ids = [d.id for d, _, _ in results]
        existing = set(
            Delivery.objects.select_for_update().filter(id__in=ids).values_list("id", flat=True)
        )
        attempts = [a for d, a, _ in results if d.id in existing]
        kept = [r for r in results if r[0].id in existing]
    return updated, attempts, kept


CLAIM_TOKEN = rows.field(Delivery, "claim_token")

# The columns an outcome sets, in the order of _deliveries_update's group keys.
UPDATED_COLUMNS = (
    "status",
    "next_attempt_at",
    "finished_at",
    "last_status_code",
    "last_error",
    "message_due_at",
)


@functools.lru_cache(maxsize=256)
def _update_sql(db: str, count: int, has_token: bool) -> str:
    """UPDATE … WHERE our claim still holds, for `count` ids: the claim is
    let go (token and lease emptied) with the outcome written."""
    qn = connections[db].ops.quote_name
    column = {name: qn(rows.field(Delivery, name).column) for name in UPDATED_COLUMNS}
    token = qn(CLAIM_TOKEN.column)
    lease = qn(rows.field(Delivery, "lease_expires_at").column)
    sets = ", ".join(f"{column[name]} = %s" for name in UPDATED_COLUMNS)
    ours = f"{token} = %s" if has_token else f"{token} IS NULL"
    keys = rows.keys_match(Delivery, db, qn(Delivery._meta.pk.column), count)
    return (
        f"UPDATE {qn(Delivery._meta.db_table)} SET {sets}, {token} = NULL, {lease} = NULL "
        f"WHERE {ours} AND {keys}"
    )
