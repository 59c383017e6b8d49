"""The webhook page's "Endpoint health" fieldset: read-only, as the workers
wrote it (deliveries/pipeline/health.py), and the words the list's state
column uses."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from console.base import counted, state_badge
from console.dates import iso, moment
from deliveries.selectors import HELD_COUNT_CAP, webhook_held_count
from hooks.health import Circuit
from hooks.health import Health as State
from hooks.models import Webhook

# The webhook page's "Endpoint health" fieldset: read-only, as the workers wrote it.
HEALTH_FIELDS = [
    "state_on_page",
    "state_since",
    "failures",
    "last_success",
    "circuit_retry",
    "throttled",
    "sending_limit",
    "held_deliveries",
]


def state_detail(webhook: Webhook) -> tuple[str, dt.datetime | None]:
    """Why a webhook is in its state, and since when (nothing when healthy:
    a reason left from before would only mislead)."""
    state = webhook.health
    if state == State.HEALTHY:
        return "", None
    if state == State.DEGRADED:
        # Failing without an open circuit writes no reason: say it.
        reasons = []
        if webhook.consecutive_failures:
            reasons.append(f"{counted(webhook.consecutive_failures, 'failure')} in a row")
        if webhook.throttle_limit:
            reasons.append(webhook.state_reason or "slowed down by a 429 or 503")
        failing = webhook.consecutive_failures and webhook.failing_since
        return "; ".join(reasons), failing or webhook.state_changed_at
    return webhook.state_reason, webhook.state_changed_at


def span(start: dt.datetime, end: dt.datetime) -> str:
    """timesince, in seconds under a minute: a circuit's cool-down or a
    Retry-After is often seconds long."""
    seconds = int((end - start).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} second{'' if seconds == 1 else 's'}"
    return timesince(start, end)


def when(value: dt.datetime | None, *, none: str = "-") -> str:
    """A time as the console shows one (console.dates), with how long ago
    (or from now) it is."""
    if value is None:
        return none
    now = timezone.now()
    relative = f"{span(value, now)} ago" if value <= now else f"in {span(now, value)}"
    return format_html("{} ({})", moment(value), relative)


def state_title(reason: str, since: dt.datetime | None) -> str:
    since_text = f"since {iso(since)}" if since else ""
    return " — ".join(part for part in (reason, since_text) if part)


class WebhookHealthFields:
    """The health fieldset's read-only fields, for WebhookAdmin."""

    @admin.display(description="state")
    def state_on_page(self, webhook: Webhook) -> str:
        reason, _ = state_detail(webhook)
        badge = state_badge(webhook.health)
        return format_html("{}: {}", badge, reason) if reason else badge

    @admin.display(description="since")
    def state_since(self, webhook: Webhook) -> str:
        return when(state_detail(webhook)[1])

    @admin.display(description="consecutive failures")
    def failures(self, webhook: Webhook) -> str:
        if not webhook.consecutive_failures:
            return "0"
        return format_html(
            "{}, the first {}", webhook.consecutive_failures, when(webhook.failing_since)
        )

    @admin.display(description="last success")
    def last_success(self, webhook: Webhook) -> str:
        return when(webhook.last_success_at, none="never")

    @admin.display(description="circuit retry")
    def circuit_retry(self, webhook: Webhook) -> str:
        if webhook.circuit != Circuit.OPEN:
            return "- (circuit closed)"
        return format_html("one probe {}", when(webhook.circuit_retry_at))

    @admin.display(description="throttled until")
    def throttled(self, webhook: Webhook) -> str:
        until = webhook.throttled_until
        if until is None or until <= timezone.now():
            return "-"
        return when(until)

    @admin.display(description="sending limit")
    def sending_limit(self, webhook: Webhook) -> str:
        limit, cap = webhook.sending_limit, webhook.effective_max_in_flight
        reasons: dict[str, str] = {
            State.DISABLED: "disabled",
            State.CIRCUIT_OPEN: "circuit open: the probe only",
        }
        why = reasons.get(webhook.health)
        if why is None and limit < cap:
            why = "slowed down by a 429 or 503, growing back"
        suffix = f" ({why}; max in flight {cap})" if why else " (max in flight)"
        return f"{limit} at once{suffix}"

    @admin.display(description="held deliveries")
    def held_deliveries(self, webhook: Webhook) -> str:
        held = webhook_held_count(webhook, now=timezone.now())
        if held >= HELD_COUNT_CAP:
            return f"{HELD_COUNT_CAP:,} or more pending, waiting for this endpoint"
        return f"{held} pending, waiting for this endpoint" if held else "none"
