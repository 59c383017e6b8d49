"""POST /webhooks/{id}/resume/, and re-enabling through PATCH: the circuit
closes, throttling and failure counts are forgotten, the webhook is enabled,
its held deliveries become due now and `webhook.recovered` is published.
Who may update a webhook may resume it; nobody else changes anything."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from deliveries.models import Delivery, DeliveryStatus, Event
from deliveries.pipeline.health import RESUMED, webhook_resume
from hooks.health import Circuit, Health
from hooks.models import Role, Scope, Webhook
from tests.api_client import client_for
from tests.factories import DeliveryFactory, MembershipFactory, UserFactory, WebhookFactory

pytestmark = pytest.mark.django_db

WEBHOOKS = "/api/v1/webhooks/"
PUBLIC_URL = "https://example.com/hook"


def resume_url(webhook) -> str:
    return f"{WEBHOOKS}{webhook.id}/resume/"


def open_circuit(**kwargs) -> Webhook:
    now = timezone.now()
    fields = {
        "payload_url": PUBLIC_URL,
        "consecutive_failures": 12,
        "failing_since": now - dt.timedelta(minutes=10),
        "circuit": Circuit.OPEN,
        "circuit_retry_at": now + dt.timedelta(minutes=2),
        "circuit_cooldown": 120,
        "state_reason": "10+ failures in a row; last: HTTP 500",
        "state_changed_at": now - dt.timedelta(minutes=1),
    }
    return WebhookFactory(**(fields | kwargs))


def gone(**kwargs) -> Webhook:
    """Disabled by a 410 Gone: failing, with its deliveries held."""
    now = timezone.now()
    fields = {
        "payload_url": PUBLIC_URL,
        "enabled": False,
        "consecutive_failures": 1,
        "failing_since": now - dt.timedelta(days=6),
        "state_reason": "the receiver answered 410 Gone (HTTP 410)",
        "state_changed_at": now - dt.timedelta(hours=1),
    }
    return WebhookFactory(**(fields | kwargs))


def held(webhook, n: int = 3, *, due_in: float = 120) -> list[Delivery]:
    at = timezone.now() + dt.timedelta(seconds=due_in)
    return [
        DeliveryFactory(webhook=webhook, status=DeliveryStatus.PENDING, next_attempt_at=at)
        for _ in range(n)
    ]


def recovered() -> list[Event]:
    return list(Event.objects.filter(type="webhook.recovered"))


def assert_untouched(webhook: Webhook, deliveries: list[Delivery]) -> None:
    stored = Webhook.objects.get(pk=webhook.pk)
    for name in ("enabled", "circuit", "circuit_retry_at", "consecutive_failures",
                 "failing_since", "throttled_until", "throttle_limit", "state_reason"):  # fmt: skip
        assert getattr(stored, name) == getattr(webhook, name), name
    for delivery in deliveries:
        assert Delivery.objects.get(pk=delivery.pk).next_attempt_at == delivery.next_attempt_at
    assert recovered() == []


# --- what resume does ---------------------------------------------------------------


def test_resume_closes_the_circuit_and_answers_the_webhook_healthy(admin, tenants):
    webhook = open_circuit(account=tenants["east_acct"])
    held(webhook)
    before = timezone.now()

    response = admin.post(resume_url(webhook))

    assert response.status_code == 200, response.data
    assert response.data["id"] == str(webhook.id)
    health = response.data["health"]
    assert health | {"changed_at": None} == {
        "state": "healthy",
        "reason": RESUMED,
        "changed_at": None,
        "consecutive_failures": 0,
        "failing_since": None,
        "last_success_at": None,
        "circuit_retry_at": None,
        "throttled_until": None,
        "sending_limit": webhook.effective_max_in_flight,
        "held_deliveries": 0,
    }
    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.circuit, stored.circuit_cooldown, stored.health) == (
        Circuit.CLOSED,
        0,
        "healthy",
    )
    assert before <= stored.state_changed_at <= timezone.now()


def test_resume_makes_the_held_deliveries_due_now_and_nothing_else(admin, tenants):
    webhook = open_circuit(account=tenants["east_acct"])
    waiting = held(webhook, 3)
    done = DeliveryFactory(webhook=webhook, status=DeliveryStatus.SUCCEEDED, next_attempt_at=None)
    probe = DeliveryFactory(
        webhook=webhook,
        status=DeliveryStatus.SENDING,
        next_attempt_at=timezone.now() + dt.timedelta(minutes=5),
    )
    other = held(open_circuit(account=tenants["east_acct"]), 1)[0]

    admin.post(resume_url(webhook))
    after = timezone.now()

    for delivery in Delivery.objects.filter(pk__in=[d.pk for d in waiting]):
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.next_attempt_at <= after
        assert delivery.message_due_at is None  # the sweeper queues it next
    assert Delivery.objects.get(pk=done.pk).next_attempt_at is None
    assert Delivery.objects.get(pk=probe.pk).next_attempt_at == probe.next_attempt_at
    assert Delivery.objects.get(pk=other.pk).next_attempt_at == other.next_attempt_at


def test_resume_publishes_webhook_recovered(admin, tenants):
    webhook = open_circuit(account=tenants["east_acct"])
    held(webhook, 3)

    admin.post(resume_url(webhook))

    [event] = recovered()
    assert (event.account_id, event.resource_type, event.resource_id) == (
        tenants["east_acct"].id,
        "webhook",
        str(webhook.id),
    )
    assert event.data == {
        "webhook": {"id": str(webhook.id), "name": webhook.name, "url": PUBLIC_URL},
        "reason": RESUMED,
        "previous_state": "circuit_open",
        "released": 3,
    }


def test_webhook_recovered_reaches_an_operator_webhook_after_commit(
    admin, tenants, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(
        "deliveries.queue.deliveries_enqueue", lambda ids, **kw: queued.append(list(ids))
    )
    operator = WebhookFactory(
        account=tenants["east_acct"], payload_url=PUBLIC_URL, event_types=["webhook.*"]
    )
    webhook = open_circuit(account=tenants["east_acct"])  # every event type, itself included

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        admin.post(resume_url(webhook))
        assert queued == []

    [event] = recovered()
    [delivery] = Delivery.objects.filter(event=event)
    assert delivery.webhook_id == operator.id  # never to the webhook it is about
    for callback in callbacks:
        callback()
    assert [delivery.id] in queued


def test_resume_enables_a_disabled_webhook_and_releases_its_deliveries(admin, tenants):
    webhook = gone(account=tenants["east_acct"])
    held(webhook, 2)
    DeliveryFactory(webhook=webhook, status=DeliveryStatus.PENDING, next_attempt_at=timezone.now())

    response = admin.post(resume_url(webhook))

    assert response.data["enabled"] is True
    assert response.data["health"]["state"] == "healthy"
    stored = Webhook.objects.get(pk=webhook.pk)
    # Forgotten: else the next failure would disable it again at once (failing 6 days).
    assert (stored.enabled, stored.failing_since, stored.consecutive_failures) == (True, None, 0)
    assert not Delivery.objects.filter(webhook=webhook, next_attempt_at__gt=timezone.now())
    assert recovered()[0].data["previous_state"] == "disabled"


def test_resume_ends_throttling(admin, tenants):
    webhook = WebhookFactory(
        account=tenants["east_acct"],
        payload_url=PUBLIC_URL,
        max_in_flight=8,
        throttle_limit=2,
        throttled_until=timezone.now() + dt.timedelta(seconds=60),
        state_reason="asked to wait",
    )
    held(webhook, 1)

    health = admin.post(resume_url(webhook)).data["health"]

    assert (health["state"], health["sending_limit"], health["throttled_until"]) == (
        "healthy",
        8,
        None,
    )
    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.throttle_limit, stored.throttled_until) == (None, None)
    assert recovered()[0].data["previous_state"] == "degraded"


def test_resuming_a_healthy_webhook_changes_nothing(admin, tenants):
    """Its pending deliveries are ordinary retries: they keep their backoff."""
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=PUBLIC_URL)
    retries = held(webhook, 2)

    response = admin.post(resume_url(webhook))

    assert response.status_code == 200
    assert response.data["health"]["state"] == "healthy"
    assert_untouched(webhook, retries)


def test_resuming_twice_publishes_once(admin, tenants):
    webhook = open_circuit(account=tenants["east_acct"])

    assert admin.post(resume_url(webhook)).status_code == 200
    assert admin.post(resume_url(webhook)).status_code == 200

    assert len(recovered()) == 1


def test_the_service_answers_the_webhook_as_stored(tenants):
    webhook = open_circuit(account=tenants["east_acct"])
    stale = Webhook.objects.get(pk=webhook.pk)

    resumed = webhook_resume(webhook=stale, now=timezone.now())

    assert resumed.health == Health.HEALTHY
    assert resumed.state_reason == RESUMED


# --- who may resume: the rules for updating a webhook -------------------------------

CASES = [
    # (who, where the webhook is, its scope, status)
    ("root", "root_acct", Scope.GLOBAL, 200),
    ("east_admin", "east_sub_acct", Scope.LOCAL, 200),
    ("east_admin", "east_acct", Scope.DOMAIN, 200),
    ("east_admin", "east_acct", Scope.GLOBAL, 403),  # seen, but only root admins change it
    ("east_admin", "west_acct", Scope.LOCAL, 404),
    ("east_user", "east_acct", Scope.LOCAL, 200),
    ("east_user", "east_acct", Scope.DOMAIN, 403),
    ("east_user", "east_sub_acct", Scope.LOCAL, 404),
    ("nobody", "east_acct", Scope.LOCAL, 404),  # a login with no account sees nothing
]


def client_of(who: str, tenants):
    if who == "root":
        return client_for(UserFactory(username="root", is_superuser=True, is_staff=True))
    if who == "nobody":
        return client_for(UserFactory(username="nobody"))
    role = Role.DOMAIN_ADMIN if who == "east_admin" else Role.USER
    return client_for(MembershipFactory(account=tenants["east_acct"], role=role).user)


@pytest.mark.parametrize(("who", "account", "scope", "status"), CASES)
def test_who_may_resume_is_who_may_update(tenants, who, account, scope, status):
    webhook = open_circuit(account=tenants[account], scope=scope)
    deliveries = held(webhook, 2)
    client = client_of(who, tenants)

    updated = client.patch(f"{WEBHOOKS}{webhook.id}/", {"description": "x"}, format="json")
    resumed = client.post(resume_url(webhook))

    assert (updated.status_code, resumed.status_code) == (status, status)
    if status == 200:
        assert Webhook.objects.get(pk=webhook.pk).circuit == Circuit.CLOSED
    else:
        assert resumed.data["detail"]
        assert_untouched(webhook, deliveries)


def test_resume_needs_credentials(tenants):
    webhook = open_circuit(account=tenants["east_acct"])

    response = APIClient().post(resume_url(webhook))

    assert response.status_code == 401
    assert Webhook.objects.get(pk=webhook.pk).circuit == Circuit.OPEN


# --- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("pk", ["not-a-uuid", str(uuid.uuid4()), "0" * 32 + "0"])
def test_resuming_no_such_webhook_is_not_found(admin, tenants, pk):
    webhook = open_circuit(account=tenants["east_acct"])

    response = admin.post(f"{WEBHOOKS}{pk}/resume/")

    assert response.status_code == 404
    assert response.data["detail"]
    assert_untouched(webhook, [])


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_resume_is_a_post(admin, tenants, method):
    webhook = open_circuit(account=tenants["east_acct"])

    response = getattr(admin, method)(resume_url(webhook))

    assert response.status_code == 405
    assert response.data["detail"]
    assert_untouched(webhook, [])


# --- re-enabling through PATCH (and PUT) drains too ---------------------------------


def test_re_enabling_a_disabled_webhook_releases_its_held_deliveries(admin, tenants):
    webhook = gone(account=tenants["east_acct"])
    held(webhook, 2)

    response = admin.patch(f"{WEBHOOKS}{webhook.id}/", {"enabled": True}, format="json")

    assert response.status_code == 200, response.data
    assert response.data["enabled"] is True
    assert response.data["health"]["state"] == "healthy"
    assert response.data["health"]["held_deliveries"] == 0
    assert not Delivery.objects.filter(webhook=webhook, next_attempt_at__gt=timezone.now())
    assert Webhook.objects.get(pk=webhook.pk).failing_since is None
    [event] = recovered()
    assert event.data["released"] == 2


def test_re_enabling_with_other_changes_applies_them_all(admin, tenants):
    webhook = gone(account=tenants["east_acct"])

    response = admin.put(
        f"{WEBHOOKS}{webhook.id}/",
        {
            "name": "back",
            "payload_url": "https://example.org/new",
            "enabled": True,
            "max_in_flight": 5,
        },
        format="json",
    )

    assert response.status_code == 200, response.data
    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.name, stored.payload_url, stored.max_in_flight) == (
        "back",
        "https://example.org/new",
        5,
    )
    assert (stored.enabled, stored.health, stored.state_reason) == (True, "healthy", RESUMED)


def test_re_enabling_with_a_bad_field_writes_nothing(admin, tenants):
    webhook = gone(account=tenants["east_acct"])
    deliveries = held(webhook, 2)

    response = admin.patch(
        f"{WEBHOOKS}{webhook.id}/", {"enabled": True, "max_in_flight": 0}, format="json"
    )

    assert response.status_code == 400
    assert response.data == {"max_in_flight": ["Must be between 1 and 1000."]}
    assert_untouched(webhook, deliveries)


def test_re_enabling_refused_by_the_scope_rules_writes_nothing(tenants):
    """Refused before anything is written: no resume, no event."""
    user = client_of("east_user", tenants)
    webhook = gone(account=tenants["east_acct"], scope=Scope.DOMAIN)
    deliveries = held(webhook, 2)

    response = user.patch(f"{WEBHOOKS}{webhook.id}/", {"enabled": True}, format="json")

    assert response.status_code == 403
    assert_untouched(webhook, deliveries)


def test_patching_an_enabled_webhook_does_not_resume_it(admin, tenants):
    """enabled: true on an enabled webhook changes nothing; resume is the way."""
    webhook = open_circuit(account=tenants["east_acct"])
    deliveries = held(webhook, 2)

    response = admin.patch(f"{WEBHOOKS}{webhook.id}/", {"enabled": True}, format="json")

    assert response.status_code == 200
    assert response.data["health"]["state"] == "circuit_open"
    assert response.data["health"]["held_deliveries"] == 2
    assert_untouched(webhook, deliveries)


def test_disabling_holds_and_re_enabling_drains(admin, tenants):
    webhook = WebhookFactory(account=tenants["east_acct"], payload_url=PUBLIC_URL)
    url = f"{WEBHOOKS}{webhook.id}/"
    held(webhook, 2)

    off = admin.patch(url, {"enabled": False}, format="json").data["health"]
    on = admin.patch(url, {"enabled": True}, format="json").data["health"]

    assert (off["state"], off["held_deliveries"]) == ("disabled", 2)
    assert (on["state"], on["held_deliveries"]) == ("healthy", 0)
    assert not Delivery.objects.filter(webhook=webhook, next_attempt_at__gt=timezone.now())
