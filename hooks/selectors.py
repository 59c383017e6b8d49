"""Reads about webhooks. Matching an event to webhooks lives here, in one
place: `recipients_for_event` (the rows publishing needs) and
`webhooks_for_event` (the same answer as Webhook models)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from django.db import connections
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from core.plaincursor import plain_cursor
from hooks.callmatch import CALL_EVENT_TYPES, PHASE_OF_TYPE, call_wanted, gets_ordinary_events
from hooks.event_filters import filters_allow
from hooks.models import Account, Domain, Scope, Webhook


class Recipient(NamedTuple):
    """A webhook an event goes to, as publishing needs it: which one, and its
    circuit (an open one holds new deliveries until its probe is due)."""

    id: uuid.UUID
    circuit: str
    circuit_retry_at: dt.datetime | None


def recipients_for_event(
    *,
    event_type: str,
    account_id: uuid.UUID | None,
    domain: Domain | None,
    call_method: str | None = None,
) -> list[Recipient]:
    """Enabled webhooks that must receive an event, with CloudStack's scopes.

    - global: every event;
    - domain: events whose domain is the webhook's domain or below it;
    - local: events of the webhook's own account.
    Then a call event (hooks/callmatch.py) by `call_method` and its phase,
    any other event by each webhook's event type patterns and include/exclude
    rules (Webhook.wants), less the webhooks that are call hooks only.

    The rules are columns of the webhook row, so one query is all matching
    costs. The rows are read fresh from the database every time: a change to
    a webhook applies to the very next event. Only the decision for a given
    set of rule texts is remembered (`_receives`), keyed by the texts
    themselves: an edited webhook's texts differ, so it is decided anew.
    """
    ancestors = tuple(domain.ancestor_ids) if domain is not None else ()
    return [
        Recipient(pk, circuit, retry_at)
        for pk, circuit, retry_at, types, rules, methods, phase in _candidate_rows(
            account_id, ancestors
        )
        if _receives(event_type, call_method, types, rules, methods, phase)
    ]


def webhooks_for_event(
    *,
    event_type: str,
    account_id: uuid.UUID | None,
    domain: Domain | None,
    call_method: str | None = None,
) -> list[Webhook]:
    """recipients_for_event's answer as Webhook models (one more query), for
    callers that want more of each webhook than publishing does."""
    return webhooks_of(
        recipients_for_event(
            event_type=event_type, account_id=account_id, domain=domain, call_method=call_method
        )
    )


def webhooks_of(recipients: Iterable[Recipient]) -> list[Webhook]:
    """These recipients as Webhook models, in one query."""
    return list(Webhook.objects.filter(pk__in=[r.id for r in recipients]))


def event_domain(*, account: Account | None, domain: Domain | None) -> Domain | None:
    """The domain an event belongs to: its account's, else the one given."""
    if account is not None:
        return account.domain
    return domain


def in_scope(*, account_id: uuid.UUID | None, domain: Domain | None) -> Q:
    """Webhooks whose scope takes in an event of this account and domain
    (recipients_for_event; the API's ?event_type= filter, hooks.filters)."""
    return _scope_q(account_id, domain.ancestor_ids if domain is not None else ())


def _scope_q(account_id: uuid.UUID | None, ancestor_ids: Sequence[uuid.UUID]) -> Q:
    scope_match = Q(scope=Scope.GLOBAL)
    if account_id is not None:
        scope_match |= Q(scope=Scope.LOCAL, account_id=account_id)
    if ancestor_ids:
        scope_match |= Q(scope=Scope.DOMAIN, domain_id__in=ancestor_ids)
    return scope_match


@functools.lru_cache(maxsize=4096)
def _receives(
    event_type: str, call_method: str | None, types: str, rules: str, methods: str, phase: str
) -> bool:
    """Whether a webhook with these rule columns (their JSON text) gets an
    event. Remembered: json.loads of three columns and the rules cost about
    as much per webhook as the whole query (7 µs against 9 µs), and the
    texts are the key, so no edit can be missed."""
    call_methods = json.loads(methods)
    if event_type in CALL_EVENT_TYPES:
        return call_method is not None and call_wanted(
            call_methods=call_methods,
            call_phase=phase,
            method=call_method,
            phase=PHASE_OF_TYPE[event_type],
        )
    event_types = json.loads(types)
    return gets_ordinary_events(
        call_methods=call_methods, event_types=event_types
    ) and filters_allow(event_types, json.loads(rules), event_type)


# (id, circuit, circuit_retry_at, event_types, event_filters, call_methods,
# call_phase), the JSON columns as their text.
Row = tuple[uuid.UUID, str, dt.datetime | None, str, str, str, str]


def _candidates(account_id: uuid.UUID | None, ancestor_ids: Sequence[uuid.UUID]) -> QuerySet:
    """The enabled webhooks in scope, as the columns matching reads."""
    as_text = [Cast(name, TextField()) for name in ("event_types", "event_filters", "call_methods")]
    return (
        Webhook.objects.enabled()
        .filter(_scope_q(account_id, ancestor_ids))
        .values_list("id", "circuit", "circuit_retry_at", *as_text, "call_phase")
    )


def _candidate_rows(
    account_id: uuid.UUID | None, ancestor_ids: Sequence[uuid.UUID]
) -> Iterable[Row]:
    db = Webhook.objects.db
    if connections[db].vendor != "postgresql" or len(ancestor_ids) >= len(_STAND_INS):
        return _candidates(account_id, ancestor_ids)
    # The ORM compiles the query in about 330 µs, four times what running it
    # costs: its SQL is compiled once per shape and run on a plain cursor.
    sql, plan = _compiled(db, account_id is not None, len(ancestor_ids))
    given = (account_id, *ancestor_ids)
    params = [given[slot] if slot is not None else constant for slot, constant in plan]
    with plain_cursor(db) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# Stand-ins for the account id and ancestor ids when compiling a shape (a
# domain deeper than that is matched through the ORM, compiled each time).
_STAND_INS = tuple(uuid.UUID(int=n + 1) for n in range(256))


@functools.lru_cache(maxsize=64)
def _compiled(
    db: str, has_account: bool, depth: int
) -> tuple[str, tuple[tuple[int | None, Any], ...]]:
    """_candidates' SQL for an account (or none) and a domain this deep, and
    where each of its parameters comes from: a slot of (account id,
    *ancestor ids), or a constant of the query (the scopes' names)."""
    stand_ins = _STAND_INS[: 1 + depth]
    account_id = stand_ins[0] if has_account else None
    sql, params = _candidates(account_id, stand_ins[1:]).query.sql_with_params()
    slot_of = {stand_in: index for index, stand_in in enumerate(stand_ins)}
    plan = tuple(
        (slot_of[p], None) if p in slot_of else (None, str(p) if isinstance(p, str) else p)
        for p in params
    )
    if sorted(slot for slot, _ in plan if slot is not None) != list(
        range(1 if not has_account else 0, len(stand_ins))
    ):
        raise RuntimeError(f"the matching query does not use each id once: {sql} {params}")
    return sql, plan
