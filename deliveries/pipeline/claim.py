"""Take due deliveries for this worker: one conditional UPDATE … RETURNING.

The database is the source of truth. A Celery message carries delivery ids
and only wakes a worker; the claim takes the ones still due, so a duplicated
or replayed message finds nothing to do. Attempts are counted in the
delivery row, never in Celery's retry counter.

The claim is also where endpoints are isolated from each other: it takes a
webhook's deliveries only while that webhook is enabled, its circuit closed
(or due for its probe) and not throttled, and only up to its free sending
slots (WEBHOOK_MAX_IN_FLIGHT less what is being sent to it now, by any
worker on any machine).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import Field, Model
from django.utils import timezone

from core.checkbyuse import first_statement, skip_health_check
from core.plaincursor import any_of, plain_cursor
from deliveries.models import Delivery, DeliveryStatus, Event
from deliveries.pipeline import rows
from hooks.health import Circuit
from hooks.models import Webhook

# The claim, in SQL that PostgreSQL and SQLite (3.35+) both run. {names} are
# table and column names (quoted by claim_sql), %s are parameters.
#
# blocked: webhooks not to be sent to now: disabled, throttled, circuit open
# (until its cool-down has passed: then one probe), or with all their sending
# slots taken (WEBHOOK_MAX_IN_FLIGHT less what is being sent to them now).
# Both sets are small (held webhooks; deliveries in flight), and the top-up
# below passes over their rows with a hash lookup each, so one endpoint's
# backlog never fills the batch with rows that cannot be taken.
#
# cand: the rows this claim may take, each locked through a SKIP LOCKED
# subquery, the message's own ones too: a claim never waits for another
# claimant. If it did, two claims could each hold rows the other's UPDATE
# wants (A's top-up takes B's rows while B's takes A's): a deadlock, which
# PostgreSQL breaks only after deadlock_timeout (1 s), failing one of the
# tasks. A row we skip is held by another claim, which takes it, or by the
# sweeper, which queues it again. Each part is a subquery in FROM (FOR
# UPDATE and LIMIT cannot stand in a UNION's branches); MATERIALIZED runs it
# exactly once (as a subquery of the UPDATE, PostgreSQL may re-run it for
# every row it joins, each re-run skipping the rows just updated and taking
# the next ones, past the LIMIT).
#
# gate: per webhook among them, how many more may be sent now. Two claims
# racing for one webhook's last slot may both take it: the limit can be
# passed by at most the number of claims running at that very moment.
#
# picked: the first `room` due rows of each webhook, its own rows first.
#
# touched: the picked rows (take = 1), and the message's own rows left due
# and pending because their webhook is held or at its limit (take = 0): no
# message is in flight for those any more, so they are released (their
# message_due_at emptied) and the sweeper queues them once their webhook may
# be sent to again. One statement for both: a claim is one round trip (the
# release was a second statement, 11 % of the claim's CPU). Released rows
# come back too (RETURNING names no other table on SQLite): the caller keeps
# the ones now sending.
#
# The UPDATE finds its rows by key alone. Every touched row was locked by
# cand (FOR UPDATE: the newest version, the pending and due test applied to
# it by picked and the release) and stays locked to this statement, so
# nothing can change it in between; SQLite has one writer. Testing the
# status and due time again here let PostgreSQL find the rows through the
# due index instead, reading every waiting row for each claim (planned from
# statistics that counted few of them).
CLAIM_SQL = """\
WITH blocked AS MATERIALIZED (
  SELECT w.{w_id} AS webhook_id FROM {w_table} w WHERE NOT ({claimable})
  UNION
  SELECT s.{webhook_id} FROM {table} s JOIN {w_table} w ON w.{w_id} = s.{webhook_id}
   WHERE s.{status} = {sending}
   GROUP BY s.{webhook_id}, w.{circuit}, w.{throttle_limit}, w.{max_in_flight}
  HAVING COUNT(*) >= {limit}
),
cand AS MATERIALIZED ({cand}),
gate AS MATERIALIZED (
  SELECT w.{w_id} AS webhook_id,
         {limit} - (SELECT COUNT(*) FROM {table} s
                     WHERE s.{webhook_id} = w.{w_id} AND s.{status} = {sending}) AS room
    FROM {w_table} w
   WHERE w.{w_id} IN (SELECT {webhook_id} FROM cand)
     AND w.{w_id} NOT IN (SELECT webhook_id FROM blocked)
),
picked AS MATERIALIZED (
  SELECT id FROM (
    SELECT c.{id} AS id, g.room,
           ROW_NUMBER() OVER (PARTITION BY c.{webhook_id}
                              ORDER BY c.own DESC, c.{next_attempt_at}) AS n
      FROM cand c JOIN gate g ON g.webhook_id = c.{webhook_id}
     WHERE c.{status} = {pending} AND c.{next_attempt_at} <= %(now)s
  ) AS ranked WHERE n <= room
),
touched AS MATERIALIZED ({touched})
UPDATE {table}
   SET {status} = CASE WHEN t.take = 1 THEN {sending} ELSE {status} END,
       {claim_token} = CASE WHEN t.take = 1 THEN %(token)s ELSE {claim_token} END,
       {lease_expires_at} = CASE WHEN t.take = 1 THEN %(lease)s ELSE {lease_expires_at} END,
       {attempts} = {attempts} + t.take, {message_due_at} = NULL
  FROM touched t
 WHERE {id} = t.touched_id
RETURNING {returning}"""

# The statuses and the open circuit are written into the statement rather
# than passed: PostgreSQL uses a partial index (pending and due; sending)
# only for a predicate it can prove from the text. Parameters are named:
# `now` appears in six places.

TOUCHED_PICKED_SQL = "SELECT id AS touched_id, 1 AS take FROM picked"

# The message's own rows to release.
TOUCHED_RELEASED_SQL = (
    "SELECT c.{id}, 0 FROM cand c WHERE c.own = 1 AND c.{status} = {pending} "
    "AND c.{next_attempt_at} <= %(now)s AND c.{id} NOT IN (SELECT id FROM picked)"
)

# A webhook whose deliveries may be sent now.
CLAIMABLE_SQL = (
    "w.{enabled} AND (w.{throttled_until} IS NULL OR w.{throttled_until} <= %(now)s) "
    "AND (w.{circuit} <> {open} OR w.{circuit_retry_at} <= %(now)s)"
)

# A webhook's sending slots (WEBHOOK_MAX_IN_FLIGHT unless it sets its own):
# one, the probe, while its circuit is open.
LIMIT_SQL = (
    "CASE WHEN w.{circuit} = {open} THEN 1 "
    "ELSE COALESCE(w.{throttle_limit}, w.{max_in_flight}, %(max_in_flight)s) END"
)

CAND_COLUMNS = "{id}, {webhook_id}, {status}, {next_attempt_at}"

# The message's own rows, by key alone: with the due test here too,
# PostgreSQL may scan the whole due index (every row waiting) for a handful
# of ids. The ranking applies the due test. {own} is the key test: an array
# parameter on PostgreSQL (one statement for any number of ids), a list of
# parameters on SQLite.
OWN_ROWS_SQL = f"SELECT {CAND_COLUMNS}, 1 AS own FROM {{table}} WHERE {{own}}{{skip}}"

# Other due rows, oldest first, to fill the batch, passing over blocked
# webhooks' rows. On PostgreSQL this walks the due index in order and stops
# at `room` rows. Planned from statistics that counted few waiting rows (an
# ANALYZE before a backlog), it read every due row into a bitmap and sorted
# them, 10 ms a claim under load: a worker's session plans without bitmap
# scans (webhooks_project/celery.py), and no other index holds waiting rows
# (delivery_status_recent leaves them out).
DUE_ROWS_SQL = (
    f"SELECT {CAND_COLUMNS}, 0 AS own FROM {{table}} "
    "WHERE {status} = {pending} AND {next_attempt_at} <= %(now)s{not_own} "
    "AND {webhook_id} NOT IN (SELECT webhook_id FROM blocked) "
    "ORDER BY {next_attempt_at} LIMIT %(room)s{skip}"
)

CLAIM_COLUMNS = (
    "id",
    "webhook_id",
    "status",
    "next_attempt_at",
    "claim_token",
    "lease_expires_at",
    "attempts",
    "message_due_at",
)
WEBHOOK_COLUMNS = (
    "id",
    "enabled",
    "circuit",
    "circuit_retry_at",
    "throttled_until",
    "throttle_limit",
    "max_in_flight",
)


def deliveries_claim(
    delivery_ids: Sequence[str | uuid.UUID], *, room: int | None = None
) -> tuple[uuid.UUID, list[Delivery]]:
    """Take the due, pending deliveries among these ids for this worker, and
    other due ones up to WEBHOOK_BATCH_SIZE (or `room` more).

    Exactly one claimant locks each row and sees it as pending, and none ever
    waits for another (SQLite serialises writers). The RETURNING clause says
    what we got.

    Taking other due deliveries turns a message per small event into full
    batches under load: fewer messages, queries and round trips per
    delivery. Their own messages then find nothing, which is harmless.
    """
    now = timezone.now()
    token = uuid.uuid4()
    if room is None:
        room = settings.WEBHOOK_BATCH_SIZE - len(delivery_ids)
    claimed = _claim_update(delivery_ids, now=now, token=token, room=room)
    if not claimed:
        return token, []
    # Events and webhooks by primary key: two lookups whose plan never
    # depends on table statistics, unlike a three-table join (which, on
    # tables not yet analysed, hashed the whole event table on every claim).
    # The webhooks come with their domain rows (a join on its primary key):
    # the domain carries the delivery settings it inherits
    # (hooks.domain_settings), so Webhook.effective_timeout and
    # effective_max_attempts cost no query per delivery. Cached statements
    # and instances from their rows (rows.py), not in_bulk and
    # select_related: the ORM's compiling and Model.__init__ were 41 % of
    # the claim.
    db = Delivery.objects.db
    events = rows.in_bulk(Event, {d.event_id for d in claimed}, db=db)
    webhooks = rows.in_bulk_joined(Webhook, {d.webhook_id for d in claimed}, via="domain", db=db)
    # Straight into the relations' caches, as prefetching does: assigning
    # through the descriptors re-checks every instance (a tenth of the claim).
    event_cache, webhook_cache = Delivery.event.field, Delivery.webhook.field
    for delivery in claimed:
        event_cache.set_cached_value(delivery, events[delivery.event_id])
        webhook_cache.set_cached_value(delivery, webhooks[delivery.webhook_id])
    return token, claimed


def _names(vendor_skips_locked: bool) -> dict[str, str]:
    connection = connections[Delivery.objects.db]
    qn = connection.ops.quote_name
    names = {c: qn(_column(Delivery, c)) for c in CLAIM_COLUMNS}
    names |= {f"w_{c}": qn(_column(Webhook, c)) for c in WEBHOOK_COLUMNS}
    names |= {c: names[f"w_{c}"] for c in WEBHOOK_COLUMNS if c not in CLAIM_COLUMNS}
    names["table"] = qn(Delivery._meta.db_table)
    names["w_table"] = qn(Webhook._meta.db_table)
    names["pending"] = _literal(DeliveryStatus.PENDING.value)
    names["sending"] = _literal(DeliveryStatus.SENDING.value)
    names["open"] = _literal(Circuit.OPEN.value)
    names["claimable"] = CLAIMABLE_SQL.format(**names)
    names["limit"] = LIMIT_SQL.format(**names)
    # SQLite: one writer at a time, nothing to skip.
    names["skip"] = " FOR UPDATE SKIP LOCKED" if vendor_skips_locked else ""
    return names


def _literal(value: str) -> str:
    # Our own choice values, never input: plain words, quoted.
    assert value.isidentifier(), value
    return f"'{value}'"


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    # The claim names concrete columns only (tests/deliveries/pipeline/test_claim.py).
    assert isinstance(field, Field) and field.column
    return field.column


def claim_sql(*, own_count: int, room: int, vendor_skips_locked: bool) -> str:
    """The claim statement for `own_count` ids of the message and `room`
    more due rows, with the real table and column names."""
    connection = connections[Delivery.objects.db]
    as_array = connection.vendor == "postgresql"
    # An array of ids is one statement for any count: only "some" matters.
    shape_count = min(own_count, 1) if as_array else own_count
    return _claim_sql(as_array, shape_count, room > 0, vendor_skips_locked)


# Built once per shape: a worker sees a few (on SQLite, message sizes), and
# formatting the statement cost as much as reading its result.
@functools.lru_cache(maxsize=512)
def _claim_sql(as_array: bool, own_count: int, top_up: bool, vendor_skips_locked: bool) -> str:
    names = _names(vendor_skips_locked)
    if as_array:
        own = any_of(names["id"], "uuid").replace("%s", "%(own)s")
    else:
        own = f"{names['id']} IN ({', '.join(f'%(own{i})s' for i in range(own_count))})"
    parts = []
    if own_count:
        parts.append(OWN_ROWS_SQL.format(**names, own=own))
    if top_up:
        not_own = f" AND NOT {own}" if own_count else ""
        parts.append(DUE_ROWS_SQL.format(**names, not_own=not_own))
    cand = " UNION ALL ".join(f"SELECT * FROM ({part}) AS part{i}" for i, part in enumerate(parts))
    touched = TOUCHED_PICKED_SQL
    if own_count:
        touched += " UNION ALL " + TOUCHED_RELEASED_SQL.format(**names)
    returning = rows.columns(Delivery, Delivery.objects.db)
    return CLAIM_SQL.format(**names, cand=cand, touched=touched, returning=returning)


def _claim_update(
    delivery_ids: Sequence[str | uuid.UUID], *, now: dt.datetime, token: uuid.UUID, room: int
) -> list[Delivery]:
    """Run the claim (and the release); return the claimed rows as they are
    after it.

    Raw SQL because the ORM's update() returns a count, not the rows: reading
    the claimed rows back by token cost a second query, and the transaction
    around the two a BEGIN and a COMMIT more, on every message. A single
    statement in autocommit mode is atomic by itself.
    """
    connection = connections[Delivery.objects.db]

    def value(model: Any, name: str, v: Any) -> Any:
        return model._meta.get_field(name).get_db_prep_value(v, connection)

    own_ids = [value(Delivery, "id", i) for i in delivery_ids]
    if not own_ids and room <= 0:
        return []
    lease = now + dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    params: dict[str, Any] = {
        "now": value(Delivery, "next_attempt_at", now),
        "max_in_flight": settings.WEBHOOK_MAX_IN_FLIGHT,
        "room": room,
        "token": value(Delivery, "claim_token", token),
        "lease": value(Delivery, "lease_expires_at", lease),
    }
    as_array = connection.vendor == "postgresql"
    if as_array and own_ids:
        params["own"] = own_ids
    elif own_ids:
        params |= {f"own{i}": own for i, own in enumerate(own_ids)}
    sql = claim_sql(
        own_count=len(own_ids),
        room=room,
        vendor_skips_locked=connection.features.has_select_for_update_skip_locked,
    )
    # Checked by use (core.checkbyuse): the claim is one atomic statement.
    # Had the connection broken after it ran, those rows wait for their
    # lease to run out, as a worker's crash leaves them.
    returned = first_statement(Delivery.objects.db, lambda: _fetch(sql, params, plain=as_array))
    db = Delivery.objects.db
    found = [rows.instance(Delivery, row, db=db) for row in returned]
    # The released rows came back too, still pending.
    sending = DeliveryStatus.SENDING.value
    return [d for d in found if d.status == sending]


def _fetch(sql: str, params: dict[str, Any], *, plain: bool) -> list[tuple[Any, ...]]:
    db = Delivery.objects.db
    # PostgreSQL: a plain cursor, the parameters bound by the server. Not
    # prepared (core/plaincursor.py): a generic plan of this statement, made
    # while the table was small, kept reading whole indexes as it grew. It
    # is planned on every run, from the table as it is.
    with plain_cursor(db) if plain else connections[db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def health_check_by_claim() -> None:
    """For a task whose first statement is a claim (a deliver task): skip
    Django's health check (CONN_HEALTH_CHECKS: a SELECT 1 round trip before
    each task's first query, 4 % of a claim). The claim finds out by running
    whether the connection broke while idle, and then runs again on a new one
    (_claim_update). Called after close_old_connections, which still drops a
    connection that had errors or aged out."""
    skip_health_check(Delivery.objects.db)
