"""The webhook API's endpoint health: `max_in_flight`, the read-only `health`
object, the `?health=` filter and `?ordering=health`.

Health is written by the workers (deliveries/pipeline/health.py); here it is
set on the rows directly, as a worker would have left it, and read back
through the API.
"""

import datetime as dt

import pytest
from django.utils import timezone

from deliveries.models import DeliveryStatus
from hooks.health import Circuit, Health
from hooks.models import Role, Scope, Webhook
from hooks.services import generate_secret, webhook_rotate_secret, webhook_update
from tests.api_client import client_for
from tests.factories import (
    DeliveryFactory,
    MembershipFactory,
    WebhookFactory,
)

pytestmark = pytest.mark.django_db

WEBHOOKS = "/api/v1/webhooks/"
PUBLIC_URL = "https://example.com/hook"


@pytest.fixture
def east_user(tenants):
    return client_for(MembershipFactory(account=tenants["east_acct"], role=Role.USER).user)


def url_of(webhook) -> str:
    return f"{WEBHOOKS}{webhook.id}/"


def health_fields(state: str, *, now: dt.datetime) -> dict:
    """What a worker leaves on a webhook in each state."""
    return {
        Health.HEALTHY: {"last_success_at": now},
        Health.DEGRADED: {
            "consecutive_failures": 3,
            "failing_since": now - dt.timedelta(minutes=5),
            "last_success_at": now - dt.timedelta(minutes=6),
        },
        Health.CIRCUIT_OPEN: {
            "consecutive_failures": 10,
            "failing_since": now - dt.timedelta(minutes=10),
            "circuit": Circuit.OPEN,
            "circuit_retry_at": now + dt.timedelta(seconds=30),
            "circuit_cooldown": 30,
            "state_reason": "10+ failures in a row; last: HTTP 500",
            "state_changed_at": now - dt.timedelta(minutes=1),
        },
        Health.DISABLED: {
            "enabled": False,
            "consecutive_failures": 1,
            "failing_since": now - dt.timedelta(minutes=2),
            "state_reason": "the receiver answered 410 Gone (HTTP 410)",
            "state_changed_at": now - dt.timedelta(minutes=2),
        },
    }[state]


def hook_in(state: str, **kwargs) -> Webhook:
    return WebhookFactory(
        name=state, payload_url=PUBLIC_URL, **health_fields(state, now=timezone.now()), **kwargs
    )


# --- fields ------------------------------------------------------------------


def test_a_new_webhook_is_healthy_and_sends_at_the_default_limit(admin, tenants, settings):
    settings.WEBHOOK_MAX_IN_FLIGHT = 7

    response = admin.post(
        WEBHOOKS,
        {"name": "n", "payload_url": PUBLIC_URL, "account": str(tenants["east_acct"].id)},
        format="json",
    )

    assert response.status_code == 201, response.data
    assert response.data["max_in_flight"] is None
    assert response.data["health"] == {
        "state": "healthy",
        "reason": "",
        "changed_at": None,
        "consecutive_failures": 0,
        "failing_since": None,
        "last_success_at": None,
        "circuit_retry_at": None,
        "throttled_until": None,
        "sending_limit": 7,
        "held_deliveries": None,
    }


def test_max_in_flight_is_set_changed_and_reset_to_the_default(admin, tenants, settings):
    settings.WEBHOOK_MAX_IN_FLIGHT = 10
    created = admin.post(
        WEBHOOKS,
        {
            "name": "n",
            "payload_url": PUBLIC_URL,
            "account": str(tenants["east_acct"].id),
            "max_in_flight": 3,
        },
        format="json",
    ).data
    assert created["max_in_flight"] == 3
    assert created["health"]["sending_limit"] == 3
    url = f"{WEBHOOKS}{created['id']}/"

    changed = admin.patch(url, {"max_in_flight": 1000}, format="json").data
    assert (changed["max_in_flight"], changed["health"]["sending_limit"]) == (1000, 1000)

    reset = admin.patch(url, {"max_in_flight": None}, format="json").data
    assert (reset["max_in_flight"], reset["health"]["sending_limit"]) == (None, 10)
    assert Webhook.objects.get(pk=created["id"]).max_in_flight is None


@pytest.mark.parametrize("value", [0, -1, 1001, 65536, "many", 2.5, True, [3]])
def test_a_bad_max_in_flight_is_refused_and_nothing_is_written(admin, tenants, value):
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=PUBLIC_URL, max_in_flight=4)
    before = Webhook.objects.get(pk=webhook.pk).updated_at

    response = admin.patch(url_of(webhook), {"max_in_flight": value, "name": "new"}, format="json")

    assert response.status_code == 400
    assert response.data["max_in_flight"], response.data
    assert "name" not in response.data
    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.max_in_flight, stored.name, stored.updated_at) == (4, webhook.name, before)


def test_a_bad_max_in_flight_says_what_is_allowed(admin, tenants):
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=PUBLIC_URL)

    response = admin.patch(url_of(webhook), {"max_in_flight": 0}, format="json")

    assert response.data == {"max_in_flight": ["Must be between 1 and 1000."]}


def test_health_is_read_only(admin, tenants):
    webhook = hook_in(Health.CIRCUIT_OPEN, account=tenants["east_acct"])

    response = admin.patch(
        url_of(webhook),
        {
            "health": {"state": "healthy", "consecutive_failures": 0},
            "circuit": "closed",
            "consecutive_failures": 0,
            "state_reason": "",
            "throttle_limit": 1000,
        },
        format="json",
    )

    assert response.status_code == 200
    assert response.data["health"]["state"] == "circuit_open"
    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.circuit, stored.consecutive_failures, stored.throttle_limit) == (
        Circuit.OPEN,
        10,
        None,
    )


def test_the_detail_shows_state_reason_and_since_when(admin, tenants):
    webhook = hook_in(Health.CIRCUIT_OPEN, account=tenants["east_acct"])

    health = admin.get(url_of(webhook)).data["health"]

    assert health["state"] == "circuit_open"
    assert health["reason"] == "10+ failures in a row; last: HTTP 500"
    assert health["changed_at"] == webhook.state_changed_at.isoformat().replace("+00:00", "Z")
    assert health["circuit_retry_at"] == webhook.circuit_retry_at.isoformat().replace("+00:00", "Z")
    assert health["consecutive_failures"] == 10
    assert health["failing_since"] is not None
    assert health["sending_limit"] == 1  # the probe


def test_a_throttled_webhook_is_degraded_and_sends_at_its_reduced_limit(admin, tenants):
    until = timezone.now() + dt.timedelta(seconds=20)
    webhook = WebhookFactory(
        account=tenants["east_acct"],
        payload_url=PUBLIC_URL,
        max_in_flight=8,
        throttle_limit=4,
        throttled_until=until,
        state_reason="asked to wait",
    )

    health = admin.get(url_of(webhook)).data["health"]

    assert health["state"] == "degraded"
    assert health["sending_limit"] == 4
    assert health["throttled_until"] == until.isoformat().replace("+00:00", "Z")


def test_a_disabled_webhook_sends_nothing(admin, tenants):
    webhook = hook_in(Health.DISABLED, account=tenants["east_acct"])

    health = admin.get(url_of(webhook)).data["health"]

    assert (health["state"], health["sending_limit"]) == ("disabled", 0)
    assert health["reason"].startswith("the receiver answered 410 Gone")


# --- held deliveries -----------------------------------------------------------


def pending(webhook, n: int, *, due_in: float = 0) -> None:
    at = timezone.now() + dt.timedelta(seconds=due_in)
    for _ in range(n):
        DeliveryFactory(webhook=webhook, status=DeliveryStatus.PENDING, next_attempt_at=at)


def test_the_detail_counts_the_held_deliveries(admin, tenants):
    webhook = hook_in(Health.CIRCUIT_OPEN, account=tenants["east_acct"])
    pending(webhook, 3, due_in=30)
    pending(webhook, 1)  # due, but the circuit holds it too
    DeliveryFactory(webhook=webhook, status=DeliveryStatus.SUCCEEDED)
    DeliveryFactory(webhook=webhook, status=DeliveryStatus.FAILED)
    DeliveryFactory(webhook=webhook, status=DeliveryStatus.SENDING)  # the probe
    pending(hook_in(Health.CIRCUIT_OPEN, account=tenants["east_acct"]), 2)  # another's

    assert admin.get(url_of(webhook)).data["health"]["held_deliveries"] == 4


@pytest.mark.parametrize("state", [Health.DISABLED, Health.CIRCUIT_OPEN])
def test_a_held_webhooks_pending_deliveries_are_held(admin, tenants, state):
    webhook = hook_in(state, account=tenants["east_acct"])
    pending(webhook, 2)

    assert admin.get(url_of(webhook)).data["health"]["held_deliveries"] == 2


def test_a_webhook_told_to_wait_holds_its_deliveries_until_then(admin, tenants):
    waiting = WebhookFactory(
        account=tenants["east_acct"],
        payload_url=PUBLIC_URL,
        throttle_limit=2,
        throttled_until=timezone.now() + dt.timedelta(seconds=30),
    )
    waited = WebhookFactory(
        account=tenants["east_acct"],
        payload_url=PUBLIC_URL,
        throttle_limit=2,
        throttled_until=timezone.now() - dt.timedelta(seconds=1),
    )
    pending(waiting, 2)
    pending(waited, 2)

    assert admin.get(url_of(waiting)).data["health"]["held_deliveries"] == 2
    assert admin.get(url_of(waited)).data["health"]["held_deliveries"] == 0


@pytest.mark.parametrize("state", [Health.HEALTHY, Health.DEGRADED])
def test_a_webhook_that_is_sent_to_holds_nothing(admin, tenants, state):
    """Its pending deliveries are due or waiting for their retry: not held."""
    webhook = hook_in(state, account=tenants["east_acct"])
    pending(webhook, 2, due_in=60)

    assert admin.get(url_of(webhook)).data["health"]["held_deliveries"] == 0


def test_the_held_count_is_capped(admin, tenants, monkeypatch):
    monkeypatch.setattr("deliveries.selectors.HELD_COUNT_CAP", 3)
    webhook = hook_in(Health.DISABLED, account=tenants["east_acct"])
    pending(webhook, 5)

    assert admin.get(url_of(webhook)).data["health"]["held_deliveries"] == 3


def test_lists_do_not_count_held_deliveries(admin, tenants, django_assert_max_num_queries):
    """A list costs the same few queries however many held webhooks it shows."""
    for _ in range(2):
        pending(hook_in(Health.DISABLED, account=tenants["east_acct"]), 2)
    with django_assert_max_num_queries(10) as few:
        admin.get(WEBHOOKS)
    for _ in range(8):
        pending(hook_in(Health.DISABLED, account=tenants["east_acct"]), 2)

    with django_assert_max_num_queries(len(few.captured_queries)):
        rows = admin.get(WEBHOOKS).data["results"]

    assert len(rows) == 10
    assert {row["health"]["held_deliveries"] for row in rows} == {None}


# --- the filter and the ordering -------------------------------------------------


@pytest.fixture
def one_in_each_state(tenants):
    hooks = {state: hook_in(state, account=tenants["east_acct"]) for state in Health.values}
    hooks["throttled"] = WebhookFactory(
        name="throttled", account=tenants["east_acct"], payload_url=PUBLIC_URL, throttle_limit=2
    )
    return hooks


def names(response) -> set[str]:
    assert response.status_code == 200, response.data
    return {row["name"] for row in response.data["results"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("healthy", {"healthy"}),
        ("degraded", {"degraded", "throttled"}),
        ("circuit_open", {"circuit_open"}),
        ("disabled", {"disabled"}),
        ("unhealthy", {"degraded", "throttled", "circuit_open", "disabled"}),
    ],
)
def test_the_health_filter(admin, one_in_each_state, query, expected):
    assert names(admin.get(WEBHOOKS, {"health": query})) == expected


def test_the_filter_agrees_with_the_state_each_row_shows(admin, one_in_each_state):
    for state in Health.values:
        rows = admin.get(WEBHOOKS, {"health": state}).data["results"]
        assert rows and {row["health"]["state"] for row in rows} == {state}


def test_the_health_filter_combines_with_the_others(admin, tenants, one_in_each_state):
    WebhookFactory(
        name="west-disabled", account=tenants["west_acct"], payload_url=PUBLIC_URL, enabled=False
    )

    response = admin.get(WEBHOOKS, {"health": "disabled", "account": str(tenants["west_acct"].id)})

    assert names(response) == {"west-disabled"}


def test_a_user_filters_only_what_they_see(east_user, tenants, one_in_each_state):
    WebhookFactory(name="west-open", account=tenants["west_acct"], circuit=Circuit.OPEN)

    assert names(east_user.get(WEBHOOKS, {"health": "circuit_open"})) == {"circuit_open"}


@pytest.mark.parametrize("value", ["sick", "HEALTHY", "", "unhealthy,healthy"])
def test_an_unknown_health_is_a_bad_request_naming_the_filter(admin, one_in_each_state, value):
    response = admin.get(WEBHOOKS, {"health": value})

    if value == "":
        assert response.status_code == 200  # an empty filter is no filter, as for the others
        return
    assert response.status_code == 400
    assert "health" in response.data


def test_ordering_by_health_puts_the_worst_first_when_asked(admin, one_in_each_state):
    worst_first = admin.get(WEBHOOKS, {"ordering": "-health"}).data["results"]
    best_first = admin.get(WEBHOOKS, {"ordering": "health"}).data["results"]

    states = [row["health"]["state"] for row in worst_first]
    assert states == ["disabled", "circuit_open", "degraded", "degraded", "healthy"]
    assert [row["health"]["state"] for row in best_first] == states[::-1]


def test_webhooks_of_one_state_are_newest_first(admin, tenants):
    older = WebhookFactory(name="older", account=tenants["east_acct"], enabled=False)
    newer = WebhookFactory(name="newer", account=tenants["east_acct"], enabled=False)
    Webhook.objects.filter(pk=older.pk).update(created_at=timezone.now() - dt.timedelta(days=1))

    rows = admin.get(WEBHOOKS, {"ordering": "-health"}).data["results"]

    assert [row["id"] for row in rows] == [str(newer.id), str(older.id)]


def test_ordering_by_health_then_another_field(admin, tenants):
    for name in ("b", "a"):
        WebhookFactory(name=name, account=tenants["east_acct"], enabled=False)
    WebhookFactory(name="c", account=tenants["east_acct"])

    rows = admin.get(WEBHOOKS, {"ordering": "-health,name"}).data["results"]

    assert [row["name"] for row in rows] == ["a", "b", "c"]


def test_an_unknown_ordering_names_health_among_the_choices(admin):
    response = admin.get(WEBHOOKS, {"ordering": "health_rank"})

    assert response.status_code == 400
    assert "health" in response.data["ordering"][0]


# --- updates keep what the workers wrote ------------------------------------------


def test_an_update_does_not_write_back_a_stale_health(tenants):
    """A PATCH holds the row as it was read; a worker may have opened the
    circuit since. The update writes only the fields it changes."""
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=PUBLIC_URL)
    Webhook.objects.filter(pk=webhook.pk).update(
        circuit=Circuit.OPEN, consecutive_failures=10, state_reason="opened meanwhile"
    )

    webhook_update(webhook=webhook, name="renamed")

    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.name, stored.circuit, stored.consecutive_failures, stored.state_reason) == (
        "renamed",
        Circuit.OPEN,
        10,
        "opened meanwhile",
    )


def test_setting_the_secret_still_ends_the_rotation_overlap(tenants):
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=PUBLIC_URL)
    webhook = webhook_rotate_secret(webhook=webhook, overlap_seconds=3600)

    webhook_update(webhook=webhook, secret=generate_secret())

    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.previous_secret, stored.previous_secret_expires_at) == ("", None)


def test_a_domain_admin_sees_health_in_their_subtree(tenants):
    admin_of_east = client_for(
        MembershipFactory(account=tenants["east_acct"], role=Role.DOMAIN_ADMIN).user
    )
    sub = hook_in(Health.DISABLED, account=tenants["east_sub_acct"], scope=Scope.DOMAIN)
    hook_in(Health.DISABLED, account=tenants["west_acct"])

    rows = admin_of_east.get(WEBHOOKS, {"health": "unhealthy"}).data["results"]

    assert [row["id"] for row in rows] == [str(sub.id)]
