"""Endpoint health in the console (console.webhooks, console.webhook_tools,
console.filters): the state column and filter, the webhook page's health
fieldset, Resume (list action and button), and enabling or disabling, which
hold and release deliveries as the API's PATCH does.

Health is written by the workers (deliveries/pipeline/health.py); here it is
set on the rows directly, as a worker would have left it.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deliveries.models import Delivery, DeliveryStatus, Event
from deliveries.pipeline.health import RESUMED
from hooks.health import Circuit, Health
from hooks.models import Scope, Webhook
from hooks.services import OPERATOR_DISABLED
from tests.console.kit import WEBHOOKS, change_url, form_data, text
from tests.factories import DeliveryFactory, WebhookFactory

REASON = "10+ failures in a row; last: HTTP 500"


def health_fields(state: str, *, now: dt.datetime) -> dict:
    """What a worker leaves on a webhook in each state."""
    return {
        Health.HEALTHY: {"last_success_at": now - dt.timedelta(seconds=30)},
        Health.DEGRADED: {
            "consecutive_failures": 3,
            "failing_since": now - dt.timedelta(minutes=5),
            "last_success_at": now - dt.timedelta(minutes=6),
        },
        Health.CIRCUIT_OPEN: {
            "consecutive_failures": 10,
            "failing_since": now - dt.timedelta(minutes=10),
            "last_success_at": now - dt.timedelta(minutes=11),
            "circuit": Circuit.OPEN,
            "circuit_retry_at": now + dt.timedelta(minutes=2),
            "circuit_cooldown": 120,
            "state_reason": REASON,
            "state_changed_at": now - dt.timedelta(minutes=3),
        },
        Health.DISABLED: {
            "enabled": False,
            "consecutive_failures": 1,
            "failing_since": now - dt.timedelta(hours=2),
            "state_reason": "the receiver answered 410 Gone (HTTP 410)",
            "state_changed_at": now - dt.timedelta(hours=2),
        },
    }[state]


def hook_in(state: str, account, **kwargs) -> Webhook:
    fields = {"name": f"{state}-hook", **health_fields(state, now=timezone.now()), **kwargs}
    return WebhookFactory(account=account, **fields)


def held(webhook, n: int) -> list[Delivery]:
    """Pending deliveries waiting for the endpoint (a worker moved them to the probe time)."""
    at = timezone.now() + dt.timedelta(minutes=2)
    return [
        DeliveryFactory(webhook=webhook, status=DeliveryStatus.PENDING, next_attempt_at=at)
        for _ in range(n)
    ]


def released(webhook) -> bool:
    """Its pending deliveries are all due now (the claim drains them)."""
    pending = Delivery.objects.filter(webhook=webhook, status=DeliveryStatus.PENDING)
    return pending.exists() and not pending.filter(next_attempt_at__gt=timezone.now()).exists()


@pytest.fixture
def states(tenants):
    return {state: hook_in(state, tenants["east_acct"]) for state in Health.values}


# --- the list --------------------------------------------------------------------


def row_of(response, webhook) -> str:
    [row] = [r for r in text(response).split("<tr") if f"{webhook.pk}/change/" in r]
    return row


def test_the_list_shows_each_state_with_reason_and_since(root, states):
    response = root.get(WEBHOOKS)

    assert response.status_code == 200
    circuit = row_of(response, states[Health.CIRCUIT_OPEN])
    assert 'class="state state-circuit_open"' in circuit
    assert ">circuit open</strong>" in circuit
    assert f'title="{REASON} — since ' in circuit  # the reason on hover
    assert "for 3 minutes" in circuit  # and since when, beside
    disabled = row_of(response, states[Health.DISABLED])
    assert ">disabled</strong>" in disabled and "410 Gone" in disabled
    assert "for 2 hours" in disabled
    degraded = row_of(response, states[Health.DEGRADED])
    assert ">degraded</strong>" in degraded and "3 failures in a row" in degraded
    assert "for 5 minutes" in degraded  # failing since
    healthy = row_of(response, states[Health.HEALTHY])
    assert ">healthy</strong>" in healthy and "state-since" not in healthy


def test_the_list_still_shows_the_success_rate_beside_the_state(root, states):
    page = text(root.get(WEBHOOKS))

    assert "idle</span> · no outcome · 0 deliveries" in page
    assert "By state" in page and "By success rate (last 24 h)" in page


@pytest.mark.parametrize(
    "value, expected",
    [
        ("healthy", {Health.HEALTHY}),
        ("degraded", {Health.DEGRADED}),
        ("circuit_open", {Health.CIRCUIT_OPEN}),
        ("disabled", {Health.DISABLED}),
        ("unhealthy", {Health.DEGRADED, Health.CIRCUIT_OPEN, Health.DISABLED}),
        ("nonsense", set(Health.values)),
    ],
)
def test_the_state_filter(root, states, value, expected):
    response = root.get(f"{WEBHOOKS}?state={value}")

    assert response.status_code == 200
    assert {w.pk for w in response.context["cl"].result_list} == {
        states[state].pk for state in expected
    }


def test_the_success_rate_filter_is_another_filter(root, states):
    # Every webhook here is idle over 24 h (no delivery), whatever its state.
    response = root.get(f"{WEBHOOKS}?health=idle&state=circuit_open")

    assert [w.pk for w in response.context["cl"].result_list] == [states[Health.CIRCUIT_OPEN].pk]


def test_sorting_by_state_lists_the_unhealthy_first(root, states):
    column = root.get(WEBHOOKS).context["cl"].list_display.index("state")

    worst_first = root.get(f"{WEBHOOKS}?o={column}").context["cl"].result_list
    best_first = root.get(f"{WEBHOOKS}?o=-{column}").context["cl"].result_list

    order = [Health.DISABLED, Health.CIRCUIT_OPEN, Health.DEGRADED, Health.HEALTHY]
    assert [w.health for w in worst_first] == order
    assert [w.health for w in best_first] == order[::-1]


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_list_costs_the_same_queries_for_more_webhooks_in_every_state(root, tenants):
    hook_in(Health.HEALTHY, tenants["east_acct"])
    few = queries_for(root, WEBHOOKS)
    for account in ("east_acct", "east_sub_acct", "west_acct"):
        for state in Health.values:
            hook_in(state, tenants[account], name=f"{state}-{account}")
    held(Webhook.objects.filter(circuit=Circuit.OPEN).first(), 3)

    assert queries_for(root, WEBHOOKS) == few
    assert queries_for(root, f"{WEBHOOKS}?state=unhealthy&o=6") == few


# --- the webhook page ----------------------------------------------------------------


def test_the_page_shows_the_endpoint_health(root, states, settings):
    settings.WEBHOOK_MAX_IN_FLIGHT = 25
    webhook = states[Health.CIRCUIT_OPEN]
    held(webhook, 2)

    page = text(root.get(change_url(webhook)))

    assert "Endpoint health" in page
    assert f">circuit open</strong>: {REASON}" in page
    assert "(3 minutes ago)" in page  # since
    assert "10, the first " in page and "(10 minutes ago)" in page
    assert "(11 minutes ago)" in page  # last success
    assert "one probe " in page and "(in 1 minute" in page
    assert "1 at once (circuit open: the probe only; max in flight 25)" in page
    assert "2 pending, waiting for this endpoint" in page
    assert 'id="resume"' in page


def test_the_page_of_a_throttled_webhook_shows_until_when_and_its_lower_limit(root, tenants):
    now = timezone.now()
    webhook = WebhookFactory(
        account=tenants["east_acct"],
        max_in_flight=10,
        throttle_limit=5,
        throttled_until=now + dt.timedelta(seconds=20),
        consecutive_failures=1,
        failing_since=now,
        state_reason="asked to wait until 12:00:20Z (HTTP 429)",
        state_changed_at=now,
    )
    DeliveryFactory(webhook=webhook, status=DeliveryStatus.PENDING, next_attempt_at=now)

    page = text(root.get(change_url(webhook)))

    assert ">degraded</strong>: 1 failure in a row; asked to wait until 12:00:20Z" in page
    assert "5 at once (slowed down by a 429 or 503, growing back; max in flight 10)" in page
    assert "(in 19 seconds)" in page or "(in 20 seconds)" in page
    assert "1 pending, waiting for this endpoint" in page  # held while throttled


def test_a_healthy_webhook_page_offers_no_resume(root, states, settings):
    settings.WEBHOOK_MAX_IN_FLIGHT = 25
    page = text(root.get(change_url(states[Health.HEALTHY])))

    assert ">healthy</strong>" in page
    assert "25 at once (max in flight)" in page
    assert 'id="resume"' not in page
    assert "- (circuit closed)" in page


def test_the_add_page_has_no_health_fieldset(root):
    page = text(root.get(reverse("admin:hooks_webhook_add")))

    assert "Endpoint health" not in page and "max_in_flight" in page


# --- max_in_flight in the form ---------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "1001"])
def test_max_in_flight_is_refused_out_of_the_apis_bounds(root, tenants, value):
    response = root.post(
        reverse("admin:hooks_webhook_add"), form_data(tenants, max_in_flight=value)
    )

    assert response.context["adminform"].form.errors["max_in_flight"] == [
        "Must be between 1 and 1000."
    ]
    assert not Webhook.objects.exists()


def test_max_in_flight_is_edited_in_the_form(root, tenants, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = True
    webhook = WebhookFactory(name="new-hook", account=tenants["east_acct"])

    root.post(change_url(webhook), form_data(tenants, max_in_flight="7"))
    assert Webhook.objects.get(pk=webhook.pk).max_in_flight == 7
    root.post(change_url(webhook), form_data(tenants, max_in_flight=""))
    assert Webhook.objects.get(pk=webhook.pk).max_in_flight is None


# --- Resume: the list action -------------------------------------------------------------


def recovered() -> list[Event]:
    return list(Event.objects.filter(type="webhook.recovered"))


def test_the_resume_action_resumes_the_unhealthy_and_releases_their_held(root, states):
    held(states[Health.CIRCUIT_OPEN], 2)
    held(states[Health.DISABLED], 1)
    selected = [states[s].pk for s in (Health.CIRCUIT_OPEN, Health.DISABLED, Health.HEALTHY)]

    response = root.post(WEBHOOKS, {"action": "resume", "_selected_action": selected}, follow=True)

    page = text(response)
    assert "Resumed 2 webhooks; 3 held deliveries released" in page
    assert "1 webhook already healthy and sending: left as it was." in page
    for state in (Health.CIRCUIT_OPEN, Health.DISABLED):
        stored = Webhook.objects.get(pk=states[state].pk)
        assert (stored.health, stored.state_reason, stored.consecutive_failures) == (
            Health.HEALTHY,
            RESUMED,
            0,
        )
        assert released(stored)
    assert Webhook.objects.get(pk=states[Health.DEGRADED].pk).health == Health.DEGRADED
    assert len(recovered()) == 2
    # and the list says so
    assert ">circuit open</strong>" not in page and ">disabled</strong>" not in page


def test_resuming_a_degraded_webhook_forgets_its_failures(root, states):
    webhook = states[Health.DEGRADED]

    root.post(WEBHOOKS, {"action": "resume", "_selected_action": [webhook.pk]})

    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.health, stored.consecutive_failures, stored.failing_since) == (
        Health.HEALTHY,
        0,
        None,
    )


@pytest.fixture
def global_open(tenants):
    """A root admin's global webhook with its circuit open, owned in east-sub:
    a domain admin of east sees it but may not act on it."""
    webhook = hook_in(Health.CIRCUIT_OPEN, tenants["east_sub_acct"], scope=Scope.GLOBAL)
    held(webhook, 2)
    return webhook


def test_a_domain_admin_resumes_their_own_but_not_a_global_webhook(
    east_admin, tenants, global_open
):
    own = hook_in(Health.CIRCUIT_OPEN, tenants["east_acct"], name="own")
    west = hook_in(Health.CIRCUIT_OPEN, tenants["west_acct"], name="west")

    response = east_admin.post(
        WEBHOOKS,
        {"action": "resume", "_selected_action": [own.pk, global_open.pk, west.pk]},
        follow=True,
    )

    page = text(response)
    assert "Resumed 1 webhook;" in page
    assert "1 global webhook left alone: only root admins act on them." in page
    assert Webhook.objects.get(pk=own.pk).health == Health.HEALTHY
    assert Webhook.objects.get(pk=global_open.pk).health == Health.CIRCUIT_OPEN
    assert Webhook.objects.get(pk=west.pk).health == Health.CIRCUIT_OPEN  # not theirs to see
    assert not released(global_open)


# --- Resume: the button --------------------------------------------------------------------


def resume_url(webhook) -> str:
    return reverse("admin:hooks_webhook_resume", args=[webhook.pk])


def test_the_resume_button_resumes_and_reports(root, states):
    webhook = states[Health.CIRCUIT_OPEN]
    held(webhook, 2)

    assert root.get(resume_url(webhook)).status_code == 405
    response = root.post(resume_url(webhook), follow=True)

    assert response.redirect_chain[-1][0] == change_url(webhook)
    page = text(response)
    assert "Resumed 1 webhook; 2 held deliveries released" in page
    assert ">healthy</strong>" in page and 'id="resume"' not in page
    assert released(webhook)
    [event] = recovered()
    assert event.data["previous_state"] == Health.CIRCUIT_OPEN


def test_the_resume_button_on_a_healthy_webhook_changes_nothing(root, states):
    webhook = states[Health.HEALTHY]

    response = root.post(resume_url(webhook), follow=True)

    assert "already healthy and sending" in text(response)
    assert recovered() == []


def test_a_domain_admin_has_no_resume_button_on_a_global_webhook(east_admin, tenants, global_open):
    page = east_admin.get(change_url(global_open))

    assert page.status_code == 200 and 'id="resume"' not in text(page)  # view only
    assert east_admin.post(resume_url(global_open)).status_code == 403
    assert Webhook.objects.get(pk=global_open.pk).health == Health.CIRCUIT_OPEN
    west = hook_in(Health.CIRCUIT_OPEN, tenants["west_acct"], name="west")
    assert east_admin.post(resume_url(west)).status_code == 404
    own = hook_in(Health.CIRCUIT_OPEN, tenants["east_sub_acct"], name="own")
    assert 'id="resume"' in text(east_admin.get(change_url(own)))
    east_admin.post(resume_url(own))
    assert Webhook.objects.get(pk=own.pk).health == Health.HEALTHY


# --- enabling and disabling --------------------------------------------------------------


def test_the_enable_action_releases_the_held_deliveries(root, states):
    webhook = states[Health.DISABLED]
    held(webhook, 2)
    selected = [webhook.pk, states[Health.CIRCUIT_OPEN].pk]

    response = root.post(WEBHOOKS, {"action": "enable", "_selected_action": selected}, follow=True)

    page = text(response)
    assert "Enabled 1 webhook; 2 held deliveries released" in page
    assert "1 webhook already enabled: left as it was." in page
    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.enabled, stored.health, stored.failing_since) == (True, Health.HEALTHY, None)
    assert released(stored)
    # enabling an enabled webhook is not resuming it (as with PATCH enabled: true)
    assert Webhook.objects.get(pk=states[Health.CIRCUIT_OPEN].pk).health == Health.CIRCUIT_OPEN
    assert len(recovered()) == 1


def test_enabling_in_the_form_releases_the_held_deliveries(root, tenants, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = True
    webhook = hook_in(Health.DISABLED, tenants["east_acct"], name="new-hook")
    held(webhook, 2)

    response = root.post(change_url(webhook), form_data(tenants, description="back"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.enabled, stored.description, stored.health) == (True, "back", Health.HEALTHY)
    assert stored.state_reason == RESUMED
    assert released(stored)
    [event] = recovered()
    assert event.data["previous_state"] == Health.DISABLED


def test_a_form_save_keeps_what_the_workers_wrote_meanwhile(root, tenants, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = True
    webhook = WebhookFactory(name="new-hook", account=tenants["east_acct"])
    root.get(change_url(webhook))  # the operator opens the form
    Webhook.objects.filter(pk=webhook.pk).update(  # a worker opens the circuit
        **health_fields(Health.CIRCUIT_OPEN, now=timezone.now())
    )

    root.post(change_url(webhook), form_data(tenants, description="edited"))

    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.description, stored.health, stored.state_reason) == (
        "edited",
        Health.CIRCUIT_OPEN,
        REASON,
    )
    assert recovered() == []


def test_disabling_holds_the_deliveries_and_says_by_whom(root, tenants, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = True
    by_form = WebhookFactory(name="new-hook", account=tenants["east_acct"])
    by_action = WebhookFactory(name="other-hook", account=tenants["east_acct"])
    for webhook in (by_form, by_action):
        DeliveryFactory(webhook=webhook, status=DeliveryStatus.PENDING)

    data = form_data(tenants)
    del data["enabled"]  # unticked
    root.post(change_url(by_form), data)
    root.post(WEBHOOKS, {"action": "disable", "_selected_action": [by_action.pk]})

    for webhook in (by_form, by_action):
        stored = Webhook.objects.get(pk=webhook.pk)
        assert (stored.health, stored.state_reason) == (Health.DISABLED, OPERATOR_DISABLED)
        assert stored.state_changed_at is not None
        page = text(root.get(change_url(stored)))
        assert f">disabled</strong>: {OPERATOR_DISABLED}" in page
        assert "1 pending, waiting for this endpoint" in page
    assert f"{OPERATOR_DISABLED} — since " in text(root.get(f"{WEBHOOKS}?state=disabled"))
