"""Take due deliveries for this worker: one conditional UPDATE … RETURNING.

The database is the source of truth. A Celery message carries delivery ids
and only wakes a worker; the claim takes the ones still due, so a duplicated
or replayed message finds nothing to do. Attempts are counted in the
delivery row, never in Celery's retry counter.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone

from deliveries.models import Delivery, DeliveryStatus, Event
from hooks.models import Webhook

# The claim, in SQL that PostgreSQL and SQLite (3.35+) both run. {names} are
# Delivery's columns (CLAIM_COLUMNS, quoted by claim_sql), %s are parameters.
#
# Every row is taken through a SKIP LOCKED subquery, the message's own ones
# too: a claim never waits for another claimant. If it did, two claims could
# each hold rows the other's UPDATE wants (A's top-up takes B's rows while
# B's takes A's): a deadlock, which PostgreSQL breaks only after
# deadlock_timeout (1 s), failing one of the tasks. A row we skip is held by
# another claim, which takes it, or by the sweeper, which queues it again.
#
# Each part is a subquery in FROM (FOR UPDATE and LIMIT cannot stand in a
# UNION's branches), and all of it a MATERIALIZED CTE, run exactly once: as
# a subquery of the UPDATE, PostgreSQL may re-run it for every row it joins,
# and each re-run skips the rows just updated and takes the next ones, past
# the LIMIT. The UPDATE then looks the rows up by key, and applies the due
# test itself: the rows the subqueries locked are re-read as they are now.
CLAIM_SQL = """\
WITH picked AS MATERIALIZED ({picked})
UPDATE {table}
   SET {status} = %s, {claim_token} = %s, {lease_expires_at} = %s,
       {attempts} = {attempts} + 1, {message_due_at} = NULL
 WHERE {id} IN (SELECT {id} FROM picked)
   AND {status} = %s AND {next_attempt_at} <= %s
RETURNING {returning}"""

# The message's own rows, by key alone: with the due test here too,
# PostgreSQL may scan the whole due index (every row waiting) for a handful
# of ids. The UPDATE applies the due test; it only briefly locks the rest.
OWN_ROWS_SQL = "SELECT {id} FROM {table} WHERE {id} IN ({own}){skip_locked}"

# Other due rows, oldest first, to fill the batch.
DUE_ROWS_SQL = (
    "SELECT {id} FROM {table} WHERE {status} = %s AND {next_attempt_at} <= %s{not_own} "
    "ORDER BY {next_attempt_at} LIMIT %s{skip_locked}"
)

CLAIM_COLUMNS = (
    "id",
    "status",
    "next_attempt_at",
    "claim_token",
    "lease_expires_at",
    "attempts",
    "message_due_at",
)


def deliveries_claim(delivery_ids: Sequence[str | uuid.UUID]) -> tuple[uuid.UUID, list[Delivery]]:
    """Take the due, pending deliveries among these ids for this worker, and
    other due ones up to WEBHOOK_BATCH_SIZE.

    Exactly one claimant locks each row and sees it as pending, and none ever
    waits for another (SQLite serialises writers). The RETURNING clause says
    what we got.

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


def claim_sql(*, own_count: int, room: int, vendor_skips_locked: bool) -> str:
    """The claim statement for `own_count` ids of the message and `room`
    more due rows, with Delivery's real table and column names."""
    connection = connections[Delivery.objects.db]
    meta = Delivery._meta
    qn = connection.ops.quote_name
    names: dict[str, str] = {c: qn(meta.get_field(c).column) for c in CLAIM_COLUMNS}
    names["table"] = qn(meta.db_table)
    # SQLite: one writer at a time, nothing to skip.
    names["skip_locked"] = " FOR UPDATE SKIP LOCKED" if vendor_skips_locked else ""
    own = ", ".join(["%s"] * own_count)
    parts = []
    if own_count:
        parts.append(OWN_ROWS_SQL.format(**names, own=own))
    if room > 0:
        not_own = f" AND NOT {names['id']} IN ({own})" if own_count else ""
        parts.append(DUE_ROWS_SQL.format(**names, not_own=not_own))
    picked = " UNION ALL ".join(
        f"SELECT {names['id']} FROM ({part}) AS part{i}" for i, part in enumerate(parts)
    )
    returning = ", ".join(qn(f.column) for f in meta.concrete_fields)
    return CLAIM_SQL.format(**names, picked=picked, returning=returning)


def _claim_update(
    delivery_ids: Sequence[str | uuid.UUID], *, now: dt.datetime, token: uuid.UUID, room: int
) -> list[Delivery]:
    """Run the claim; return the claimed rows as they are after it.

    Raw SQL because the ORM's update() returns a count, not the rows: reading
    the claimed rows back by token cost a second query, and the transaction
    around the two a BEGIN and a COMMIT more, on every message. A single
    statement in autocommit mode is atomic by itself.
    """
    connection = connections[Delivery.objects.db]
    meta = Delivery._meta

    def value(name: str, v: Any) -> Any:
        return meta.get_field(name).get_db_prep_value(v, connection)

    own_ids = [value("id", i) for i in delivery_ids]
    if not own_ids and room <= 0:
        return []
    due_params = [DeliveryStatus.PENDING.value, value("next_attempt_at", now)]
    params: list[Any] = list(own_ids)
    if room > 0:
        params += [*due_params, *own_ids, room]
    lease = now + dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    params += [
        DeliveryStatus.SENDING.value,
        value("claim_token", token),
        value("lease_expires_at", lease),
        *due_params,
    ]
    sql = claim_sql(
        own_count=len(own_ids),
        room=room,
        vendor_skips_locked=connection.features.has_select_for_update_skip_locked,
    )
    # raw() turns the returned rows into instances, with the backend's
    # converters (SQLite hands back text for UUIDs and datetimes).
    return list(Delivery.objects.raw(sql, params))
