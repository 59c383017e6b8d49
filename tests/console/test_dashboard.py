"""The dashboard (console.dashboard): the webhooks that need attention worst
first, within the actor's reach; platform figures for root admins; a bounded
number of queries whatever the tables hold."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from console import dashboard
from deliveries import liveness
from hooks.health import Circuit
from hooks.models import Webhook
from tests.console.kit import deliveries, text

INDEX = reverse("admin:index")


def unhealthy(hooks):
    now = timezone.now()
    Webhook.objects.filter(pk=hooks["west"].pk).update(consecutive_failures=2)
    Webhook.objects.filter(pk=hooks["east"].pk).update(
        circuit=Circuit.OPEN, circuit_retry_at=now, state_reason="10+ failures in a row"
    )
    Webhook.objects.filter(pk=hooks["east_sub"].pk).update(enabled=False)


def test_the_worst_webhooks_come_first(root, hooks):
    unhealthy(hooks)
    response = root.get(INDEX)
    rows = response.context["attention"]
    assert [r.webhook.name for r in rows] == ["east-hook", "west-hook", "east-sub-hook"]
    assert rows[0].url == reverse("admin:hooks_webhook_change", args=[hooks["east"].pk])
    assert rows[0].reason == "10+ failures in a row"
    assert response.context["attention_total"] == 3


def test_every_webhook_healthy_says_so(root, hooks):
    assert "Every webhook is healthy" in text(root.get(INDEX))


def test_a_long_list_shows_the_first_and_counts_the_rest(root, hooks, monkeypatch):
    monkeypatch.setattr(dashboard, "ATTENTION_SHOWN", 2)
    unhealthy(hooks)
    response = root.get(INDEX)
    assert len(response.context["attention"]) == 2 and response.context["attention_total"] == 3
    assert "All 3 unhealthy webhooks" in text(response)


def test_a_domain_admin_sees_their_subtree_only_and_no_platform_figures(east_admin, hooks):
    unhealthy(hooks)
    response = east_admin.get(INDEX)
    assert [r.webhook.name for r in response.context["attention"]] == ["east-hook", "east-sub-hook"]
    page = text(response)
    assert 'id="backlog"' not in page and 'id="workers"' not in page
    assert "root admins see them here" in page


def test_workers_beat_and_purge_come_from_their_heartbeats(root, db, settings):
    now = timezone.now()
    alive = dashboard.platform_liveness(now=now)
    assert (alive.workers, alive.beat_alive, alive.purge, alive.purge_late) == (
        [],
        False,
        None,
        True,
    )
    liveness.worker_beat(hostname="celery@w1", pid=7, now=now)
    liveness.sweep_record(now=now - dt.timedelta(seconds=5))
    liveness.beat_tick(hostname="beat@b1", pid=8, now=now - dt.timedelta(seconds=2))
    liveness.purge_record(rows_deleted=12, now=now - dt.timedelta(minutes=10))
    alive = dashboard.platform_liveness(now=now)
    assert [w.hostname for w in alive.workers] == ["celery@w1"]
    assert alive.beat_alive and alive.purge.rows_deleted == 12 and not alive.purge_late
    assert alive.beat_tick == now - dt.timedelta(seconds=2)
    later = now + dt.timedelta(seconds=settings.HEALTH_SWEEP_STALE_AFTER + 1)
    assert not dashboard.platform_liveness(now=later).beat_alive
    page = text(root.get(INDEX))
    assert "celery@w1 (pid 7)" in page and "12 rows deleted" in page
    assert "beat itself last ticked" in page


def test_the_dashboard_costs_a_fixed_number_of_queries(root, hooks):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert root.get(INDEX).status_code == 200
        return len(queries)

    few = count()
    unhealthy(hooks)
    for hook in hooks.values():
        deliveries(hook, succeeded=3, failed=2, pending=2)
    assert count() <= few + 2  # the attention list's counts: one grouped query, one count
