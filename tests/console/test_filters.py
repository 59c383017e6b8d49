"""The list filters (console.filters): health, owner, webhook, event type."""

import datetime as dt

import pytest
from django.utils import timezone

from deliveries.models import DeliveryStatus
from deliveries.selectors import (
    Health,
    WindowCounts,
    webhook_health,
    webhooks_in_health,
    webhooks_with_last_outcome,
)
from hooks.models import Webhook
from tests.console.kit import DELIVERIES, WEBHOOKS, deliveries, text
from tests.factories import DeliveryFactory, EventFactory, WebhookFactory


@pytest.mark.parametrize(
    "succeeded, failed, expected",
    [
        (0, 0, Health.IDLE),
        (19, 1, Health.HEALTHY),
        (18, 2, Health.DEGRADED),
        (1, 1, Health.DEGRADED),
        (1, 2, Health.FAILING),
        (0, 3, Health.FAILING),
    ],
)
def test_health_of_a_webhook_follows_its_success_rate(succeeded, failed, expected):
    assert Health.of(succeeded, failed) == expected


def test_the_health_filter_agrees_with_the_health_shown(tenants):
    """Given webhooks at each health, when filtered, then each is where `of` puts it."""
    made = {
        Health.HEALTHY: WebhookFactory(account=tenants["east_acct"]),
        Health.DEGRADED: WebhookFactory(account=tenants["east_acct"]),
        Health.FAILING: WebhookFactory(account=tenants["east_acct"]),
        Health.IDLE: WebhookFactory(account=tenants["east_acct"]),
    }
    deliveries(made[Health.HEALTHY], succeeded=20)
    deliveries(made[Health.DEGRADED], succeeded=3, failed=1)
    deliveries(made[Health.FAILING], succeeded=1, failed=3, pending=2)
    deliveries(made[Health.IDLE], pending=2)
    # Old outcomes are outside the window: this one stays idle.
    deliveries(made[Health.IDLE], failed=5, created_at=timezone.now() - dt.timedelta(hours=25))
    now = timezone.now()
    counts = webhook_health(None, now=now)
    for health, webhook in made.items():
        assert counts.get(webhook.pk, WindowCounts()).health == health
        chosen = webhooks_in_health(Webhook.objects.all(), health, now=now)
        assert list(chosen.values_list("pk", flat=True)) == [webhook.pk]
    assert counts[made[Health.FAILING].pk] == WindowCounts(total=6, succeeded=1, failed=3)
    last = webhooks_with_last_outcome(Webhook.objects.all())
    assert last.get(pk=made[Health.FAILING].pk).h_last_status in (
        DeliveryStatus.SUCCEEDED,
        DeliveryStatus.FAILED,
    )
    assert last.get(pk=made[Health.IDLE].pk).h_last_status == DeliveryStatus.FAILED
    assert webhook_health([made[Health.HEALTHY].pk], now=now).keys() == {made[Health.HEALTHY].pk}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("health=failing", {"west-hook"}),
        ("health=healthy", {"east-hook"}),
        ("health=idle", {"east-sub-hook"}),
        ("scope=local&enabled__exact=1", {"east-hook", "east-sub-hook", "west-hook"}),
        ("q=east", {"east-hook", "east-sub-hook"}),
    ],
)
def test_the_webhook_list_filters(root, hooks, query, expected):
    deliveries(hooks["east"], succeeded=2)
    deliveries(hooks["west"], failed=2)
    response = root.get(f"{WEBHOOKS}?{query}")
    assert response.status_code == 200
    shown = {w.name for w in response.context["cl"].result_list}
    assert shown == expected


def test_the_owner_filters_list_only_what_the_actor_sees_and_filter(east_admin, hooks, tenants):
    response = east_admin.get(f"{WEBHOOKS}?account={tenants['east_sub_acct'].pk}")
    assert [w.name for w in response.context["cl"].result_list] == ["east-sub-hook"]
    page = text(response)
    assert "east-sub-acct" in page and "west-acct" not in page and ">west<" not in page


@pytest.mark.parametrize(
    "query, expected",
    [
        ("status__exact=failed", {"fail"}),
        ("event_type=VOLUME.DELETE", {"volume"}),
        ("event_type=VOLUME", set()),
        ("created_at__gte=2000-01-01%2000:00:00%2B00:00", {"ok", "fail", "volume", "west"}),
    ],
)
def test_the_delivery_list_filters(root, hooks, query, expected):
    made = {
        "ok": deliveries(hooks["east"], succeeded=1)[0],
        "fail": deliveries(hooks["east"], failed=1)[0],
        "west": deliveries(hooks["west"], succeeded=1)[0],
    }
    made["volume"] = DeliveryFactory(
        webhook=hooks["east_sub"], event=EventFactory(type="VOLUME.DELETE")
    )
    names = {v.pk: k for k, v in made.items()}
    response = root.get(f"{DELIVERIES}?{query}")
    assert response.status_code == 200
    assert {names[d.pk] for d in response.context["cl"].result_list} == expected


def test_the_delivery_list_filters_by_webhook(root, hooks):
    east = deliveries(hooks["east"], succeeded=2)
    deliveries(hooks["west"], succeeded=1)
    response = root.get(f"{DELIVERIES}?webhook={hooks['east'].pk}")
    assert {d.pk for d in response.context["cl"].result_list} == {d.pk for d in east}
    assert root.get(f"{DELIVERIES}?webhook=not-a-uuid").context["cl"].result_list.count() == 0
