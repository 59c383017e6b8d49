"""What attempt results do to their endpoints: failure counts, the circuit
breaker, Retry-After throttling, 410 Gone, and the operational events that
tell an operator about each change.

States (hooks.models.Health, derived from the fields): healthy; degraded
(failing, or throttled); circuit open (WEBHOOK_CIRCUIT_FAILURES failures in
a row: not attempted until `circuit_retry_at`, then one probe; success
closes it, failure doubles the cool-down); disabled (410 Gone, failing for
WEBHOOK_DISABLE_AFTER, or an operator). While an endpoint is held its
deliveries stay pending and spend no attempts; the claim (claim.py) and the
sweeper leave them alone.

Healthy endpoints cost nothing here: a webhook row is written only when
something about it changes (or its last success is a minute old).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, PositiveSmallIntegerField, Value
from django.db.models.functions import Coalesce, Greatest, Least

from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from deliveries.pipeline.outcome import Outcome, Verdict
from deliveries.publishing import operational_event_publish
from hooks.health import Circuit, Health
from hooks.models import Webhook

log = logging.getLogger(__name__)

LAST_SUCCESS_EVERY = dt.timedelta(seconds=60)


@dataclass
class _Tally:
    webhook: Webhook
    successes: int = 0
    trailing_failures: int = 0  # failures after the last success of the batch
    last_error: str = ""
    gone: bool = False
    throttled: bool = False
    retry_after: float | None = None
    # When the latest failed attempt started: a failure is a probe's only if
    # it started once the circuit's cool-down was over.
    failed_started_at: dt.datetime | None = None
    exhausted: list[tuple[Delivery, str]] = field(default_factory=list)  # with its error


def endpoints_update(
    results: Sequence[tuple[Delivery, DeliveryAttempt, Outcome]], *, now: dt.datetime
) -> int:
    """Fold a batch of recorded results into each endpoint's health. Returns
    how many held deliveries a closed circuit made due (the caller drains)."""
    tallies: dict[uuid.UUID, _Tally] = {}
    for delivery, attempt, outcome in results:
        tally = tallies.setdefault(delivery.webhook_id, _Tally(delivery.webhook))
        if outcome.verdict == Verdict.DELIVERED:
            tally.successes += 1
            tally.trailing_failures = 0
            continue
        tally.trailing_failures += 1
        tally.last_error = outcome.last_error
        if tally.failed_started_at is None or attempt.started_at > tally.failed_started_at:
            tally.failed_started_at = attempt.started_at
        if outcome.verdict == Verdict.GONE:
            tally.gone = True
        elif outcome.verdict == Verdict.THROTTLED:
            tally.throttled = True
            if outcome.retry_after is not None:
                tally.retry_after = max(tally.retry_after or 0, outcome.retry_after)
        if outcome.status == DeliveryStatus.FAILED:
            tally.exhausted.append((delivery, outcome.last_error))
    released = 0
    for tally in tallies.values():
        released += _endpoint_update(tally, now=now)
        # Apart: whatever the endpoint's state came to (quiet, disabled),
        # each delivery that gave up is reported.
        _exhausted_report(tally)
    return released


def _exhausted_report(tally: _Tally) -> None:
    for delivery, error in tally.exhausted:
        operational_event_publish(
            "delivery.exhausted",
            webhook=tally.webhook,
            data={
                "delivery_id": str(delivery.id),
                "event_id": str(delivery.event_id),
                "attempts": delivery.attempts,
                "last_error": error,
            },
            about=delivery,
        )


def endpoints_gone(
    results: Sequence[tuple[Delivery, DeliveryAttempt, Outcome]], *, now: dt.datetime
) -> None:
    """Disable each webhook that answered 410 Gone. Called before the results
    are recorded: a 410's delivery is written back pending and due (held by
    its disabled webhook), and were the webhook still enabled then, any claim
    in between (another worker's, or this task's own refill) would send it
    again."""
    gone = {d.webhook_id: (d.webhook, o) for d, _, o in results if o.verdict == Verdict.GONE}
    for webhook, outcome in gone.values():
        webhook_disable(
            webhook, reason=f"the receiver answered 410 Gone ({outcome.last_error})", now=now
        )


def _endpoint_update(tally: _Tally, *, now: dt.datetime) -> int:
    webhook = tally.webhook
    if tally.gone:
        webhook_disable(
            webhook, reason=f"the receiver answered 410 Gone ({tally.last_error})", now=now
        )
    if tally.throttled:
        _throttle(webhook, tally, now=now)
    if tally.successes and not tally.trailing_failures:
        if _is_quiet(webhook, now=now):
            return 0
        rows = Webhook.objects.filter(id=webhook.id)
        changes: dict[str, Any] = {
            "consecutive_failures": 0,
            "failing_since": None,
            "last_success_at": now,
        }
        if webhook.throttle_limit and not tally.throttled:
            # Additive increase: one more slot per good batch, up to the limit.
            grown = webhook.throttle_limit + 1
            changes["throttle_limit"] = None if grown >= webhook.effective_max_in_flight else grown
        rows.update(**changes)
        if rows.filter(circuit=Circuit.OPEN).update(
            circuit=Circuit.CLOSED,
            circuit_retry_at=None,
            circuit_cooldown=0,
            state_reason="",
            state_changed_at=now,
        ):
            log.info("webhook %s: circuit closed, the probe succeeded", webhook.id)
            released = _held_release(webhook, now=now)
            operational_event_publish(
                "webhook.circuit_closed", webhook=webhook, data={"reason": "a probe succeeded"}
            )
            return released
    elif tally.trailing_failures:
        rows = Webhook.objects.filter(id=webhook.id)
        changes = {
            "consecutive_failures": F("consecutive_failures") + tally.trailing_failures,
            "failing_since": Coalesce(F("failing_since"), Value(now)),
        }
        if tally.successes:
            changes = {
                "consecutive_failures": tally.trailing_failures,
                "failing_since": now,
                "last_success_at": now,
            }
        rows.update(**changes)
        state = rows.values(
            "enabled", "circuit", "circuit_retry_at", "consecutive_failures", "failing_since"
        ).first()
        if state is None or not state["enabled"]:
            return 0
        if state["circuit"] == Circuit.OPEN:
            retry_at = state["circuit_retry_at"]
            if retry_at is None or tally.failed_started_at >= retry_at:
                # The probe failed: open again, for longer.
                _circuit_open(webhook, tally, now=now, reopen=True)
            else:
                # A request sent before the circuit opened (up to the
                # endpoint's limit were in flight then): no probe, not news;
                # its delivery waits for the probe like the others.
                _held_until(webhook, retry_at)
        elif state["consecutive_failures"] >= settings.WEBHOOK_CIRCUIT_FAILURES:
            _circuit_open(webhook, tally, now=now, reopen=False)
        disable_after = settings.WEBHOOK_DISABLE_AFTER
        since = state["failing_since"]
        if disable_after and since and now - since >= dt.timedelta(seconds=disable_after):
            webhook_disable(
                webhook,
                reason=f"only failures since {since:%Y-%m-%d %H:%M:%S}Z ({tally.last_error})",
                now=now,
            )
    return 0


def _is_quiet(webhook: Webhook, *, now: dt.datetime) -> bool:
    """Nothing to write for an endpoint that was healthy and still is."""
    return (
        webhook.consecutive_failures == 0
        and webhook.circuit == Circuit.CLOSED
        and not webhook.throttle_limit
        and webhook.last_success_at is not None
        and now - webhook.last_success_at < LAST_SUCCESS_EVERY
    )


def _throttle(webhook: Webhook, tally: _Tally, *, now: dt.datetime) -> None:
    # Multiplicative decrease: half the slots, at least one.
    small: PositiveSmallIntegerField[int, int] = PositiveSmallIntegerField()
    limit = Coalesce(
        F("throttle_limit"),
        F("max_in_flight"),
        Value(settings.WEBHOOK_MAX_IN_FLIGHT),
        output_field=small,
    )
    changes = {
        "throttle_limit": Greatest(limit / 2, Value(1), output_field=small),
        "state_changed_at": now,
    }
    if tally.retry_after:
        until = now + dt.timedelta(seconds=min(tally.retry_after, settings.WEBHOOK_RETRY_AFTER_MAX))
        changes["throttled_until"] = until
        changes["state_reason"] = f"asked to wait until {until:%H:%M:%S}Z ({tally.last_error})"
    else:
        changes["state_reason"] = f"asked to slow down ({tally.last_error})"
    Webhook.objects.filter(id=webhook.id).update(**changes)


def _circuit_open(webhook: Webhook, tally: _Tally, *, now: dt.datetime, reopen: bool) -> None:
    rows = Webhook.objects.filter(id=webhook.id)
    cooldown = settings.WEBHOOK_CIRCUIT_COOLDOWN
    if reopen:
        current = rows.values_list("circuit_cooldown", flat=True).first() or cooldown
        cooldown = min(current * 2, settings.WEBHOOK_CIRCUIT_COOLDOWN_MAX)
        rows = rows.filter(circuit=Circuit.OPEN)
    else:
        rows = rows.filter(circuit=Circuit.CLOSED)
    retry_at = now + dt.timedelta(seconds=cooldown)
    opened = rows.update(
        circuit=Circuit.OPEN,
        circuit_retry_at=retry_at,
        circuit_cooldown=cooldown,
        state_reason=f"{tally.trailing_failures}+ failures in a row; last: {tally.last_error}",
        state_changed_at=now,
    )
    if not opened:
        return
    _held_until(webhook, retry_at)
    if not reopen:
        log.warning("webhook %s: circuit opened: %s", webhook.id, tally.last_error)
        operational_event_publish(
            "webhook.circuit_opened",
            webhook=webhook,
            data={"reason": tally.last_error, "retry_at": retry_at.isoformat()},
        )


def _held_until(webhook: Webhook, retry_at: dt.datetime) -> None:
    """Hold an endpoint's pending deliveries: not due before its probe, so no
    claim or sweep looks at them."""
    Delivery.objects.filter(
        webhook_id=webhook.id, status=DeliveryStatus.PENDING, next_attempt_at__lt=retry_at
    ).update(next_attempt_at=retry_at, message_due_at=None)


def _held_release(webhook: Webhook, *, now: dt.datetime) -> int:
    """Make an endpoint's pending deliveries due now (those held for a probe,
    and later retries too: it answers again), with no message in flight, so
    the sweeper queues them if this task does not drain them first; the claim
    takes them at the endpoint's sending limit. Returns how many."""
    return Delivery.objects.filter(webhook_id=webhook.id, status=DeliveryStatus.PENDING).update(
        next_attempt_at=Least(Coalesce(F("next_attempt_at"), Value(now)), Value(now)),
        message_due_at=None,
    )


RESUMED = "resumed by an operator"


@transaction.atomic
def webhook_resume(*, webhook: Webhook, now: dt.datetime) -> Webhook:
    """An operator's "send to it again": close the circuit, end any
    throttling, forget the failures, enable the webhook; its held deliveries
    become due now (drained at its sending limit) and `webhook.recovered` is
    published. A webhook that is healthy and not held is left as it is (no
    event; its pending retries keep their backoff). Returns it as stored now."""
    current = Webhook.objects.select_for_update().get(pk=webhook.pk)
    if current.health == Health.HEALTHY and not current.is_held(now=now):
        return current
    was = current.health
    Webhook.objects.filter(pk=current.pk).update(
        enabled=True,
        circuit=Circuit.CLOSED,
        circuit_retry_at=None,
        circuit_cooldown=0,
        throttled_until=None,
        throttle_limit=None,
        consecutive_failures=0,
        failing_since=None,
        state_reason=RESUMED,
        state_changed_at=now,
        updated_at=now,
    )
    released = _held_release(current, now=now)
    log.info("webhook %s resumed (was %s); %d held deliveries released", current.id, was, released)
    operational_event_publish(
        "webhook.recovered",
        webhook=current,
        data={"reason": RESUMED, "previous_state": was, "released": released},
    )
    current.refresh_from_db()
    return current


def webhook_disable(webhook: Webhook, *, reason: str, now: dt.datetime) -> bool:
    """Stop sending to a webhook and hold its deliveries; tell the operator."""
    changed = Webhook.objects.filter(id=webhook.id, enabled=True).update(
        enabled=False, state_reason=reason[:500], state_changed_at=now
    )
    if changed:
        log.warning("webhook %s disabled: %s", webhook.id, reason)
        operational_event_publish("webhook.disabled", webhook=webhook, data={"reason": reason})
    return bool(changed)
