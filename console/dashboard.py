"""The console's front page: what is wrong, first.

- the webhooks that need an operator: circuit open, degraded (failing, or
  slowed down by a 429/503) or disabled, worst first, each linked;
- the backlog: pending deliveries that are due, and how late the oldest is;
- the last 24 h: deliveries per hour by outcome and the success rate;
- whether workers and beat are alive, and the last purge.

Every figure is bounded (deliveries.overview): the page costs the same on a
table of a billion rows. Platform-wide figures are for root admins; a domain
admin sees their subtree's webhooks only, as everywhere in the console.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Case, IntegerField, Value, When
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from console.base import state_badge
from console.charts import traffic_svg
from console.webhook_health import span, state_detail, state_title
from deliveries import liveness
from deliveries.overview import BACKLOG_CAP, backlog, traffic
from deliveries.selectors import WindowCounts, webhook_health
from hooks.health import Health as State
from hooks.health import health_q
from hooks.models import Webhook
from hooks.permissions import request_actor

ATTENTION_SHOWN = 10
ATTENTION_CAP = 1000
# Worst first: a circuit open holds deliveries now; degraded is on its way
# there; disabled is held too, but often on purpose.
ATTENTION_ORDER = [State.CIRCUIT_OPEN, State.DEGRADED, State.DISABLED]


@dataclass(frozen=True)
class Attention:
    webhook: Webhook
    reason: str
    since: dt.datetime | None
    counts: WindowCounts
    url: str
    badge: str  # the state, coloured as in the webhook list


def webhooks_needing_attention(request, *, now: dt.datetime) -> tuple[list[Attention], int]:
    """The actor's unhealthy webhooks, worst first (ATTENTION_SHOWN of them),
    and how many there are (up to ATTENTION_CAP + 1)."""
    actor = request_actor(request)
    rank = Case(
        *(When(health_q(state), then=Value(i)) for i, state in enumerate(ATTENTION_ORDER)),
        output_field=IntegerField(),
    )
    unhealthy = (
        Webhook.objects.filter(actor.visible(account_field="account", domain_field="domain"))
        .in_health(*ATTENTION_ORDER)
        .annotate(attention_rank=rank)
        .order_by("attention_rank", "state_changed_at", "name")
    )
    shown = list(unhealthy.select_related("account", "domain")[:ATTENTION_SHOWN])
    total = len(shown)
    if total == ATTENTION_SHOWN:
        total = unhealthy[: ATTENTION_CAP + 1].count()
    counts = webhook_health([w.pk for w in shown], now=now)
    rows = []
    for webhook in shown:
        reason, since = state_detail(webhook)
        rows.append(
            Attention(
                webhook=webhook,
                reason=reason,
                since=since,
                counts=counts.get(webhook.pk, WindowCounts()),
                url=reverse("admin:hooks_webhook_change", args=[webhook.pk]),
                badge=state_badge(webhook.health, title=state_title(reason, since)),
            )
        )
    return rows, total


@dataclass(frozen=True)
class Liveness:
    """Workers and beat alive or not, and the last purge (deliveries.liveness:
    heartbeats the workers write, the sweep's and the purge's last runs)."""

    workers: list[liveness.WorkerBeat]
    last_sweep: dt.datetime | None
    beat_alive: bool
    beat_tick: dt.datetime | None  # beat's own heartbeat, as it schedules
    purge: liveness.PurgeRun | None
    purge_late: bool


def platform_liveness(*, now: dt.datetime) -> Liveness:
    last_sweep = liveness.beat_last_sweep()
    purge = liveness.last_purge()
    # Beat sends the sweeper every WEBHOOK_SWEEP_INTERVAL: readiness's bound
    # (webhooks_project/health.py) says when its silence means beat is down.
    sweep_bound = dt.timedelta(seconds=settings.HEALTH_SWEEP_STALE_AFTER)
    # The purge runs every WEBHOOK_PURGE_INTERVAL; two missed runs is late
    # (or an operator disabled it in Schedules).
    purge_bound = dt.timedelta(seconds=2 * settings.WEBHOOK_PURGE_INTERVAL)
    return Liveness(
        workers=liveness.workers_alive(now=now),
        last_sweep=last_sweep,
        beat_tick=liveness.beat_last_tick(),
        beat_alive=last_sweep is not None and now - last_sweep <= sweep_bound,
        purge=purge,
        purge_late=purge is None or now - purge.finished_at > purge_bound,
    )


def dashboard_context(request, *, now: dt.datetime) -> dict:
    attention, attention_total = webhooks_needing_attention(request, now=now)
    context: dict = {
        "now": now,
        "attention": attention,
        "attention_total": attention_total,
        "attention_capped": attention_total > ATTENTION_CAP,
        "attention_cap": ATTENTION_CAP,
        "unhealthy_url": reverse("admin:hooks_webhook_changelist") + "?state=unhealthy",
        "platform": request_actor(request).is_root,
    }
    if not context["platform"]:
        return context
    due = backlog(now=now)
    day = traffic(now=now)
    chart: SafeString = mark_safe(traffic_svg(day))  # built from numbers and escaped labels
    context.update(
        backlog=due,
        backlog_cap=BACKLOG_CAP,
        oldest_late=span(due.oldest_due_at, now) if due.oldest_due_at else "-",
        traffic=day,
        traffic_chart=chart,
        success_rate=None if day.success_rate is None else 100 * day.success_rate,
        alive=platform_liveness(now=now),
        sweep_stale_after=settings.HEALTH_SWEEP_STALE_AFTER,
    )
    return context
