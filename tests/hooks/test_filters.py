"""hooks/filters.py's `event_type` filter tells the truth: it lists exactly
the webhooks that would receive an event of that type published by the
caller without naming an account (the docs/api.md example)."""

from __future__ import annotations

import pytest

from deliveries.models import Delivery
from hooks.models import Role, Scope
from tests.api_client import client_for
from tests.conftest import EVENTS, WEBHOOKS
from tests.factories import MembershipFactory, UserFactory, WebhookFactory

pytestmark = pytest.mark.django_db
URL = "https://example.com/hook"


def listed(api, event_type: str) -> set[str]:
    response = api.get(f"{WEBHOOKS}?event_type={event_type}")
    assert response.status_code == 200
    return {item["name"] for item in response.json()["results"]}


def received(api, event_type: str) -> set[str]:
    before = set(Delivery.objects.values_list("pk", flat=True))
    assert api.post(EVENTS, {"type": event_type}, format="json").status_code == 202
    return set(Delivery.objects.exclude(pk__in=before).values_list("webhook__name", flat=True))


def test_the_admins_local_webhook_from_the_docs_receives_what_the_admin_publishes(tenants):
    admin = client_for(UserFactory(username="root", is_superuser=True, is_staff=True))
    # docs/api.md's example: created by the admin, no account named
    created = admin.post(
        WEBHOOKS,
        {"name": "billing", "payload_url": URL, "scope": "local", "event_types": ["VM.*"]},
        format="json",
    )
    assert created.status_code == 201
    WebhookFactory(name="east-local", account=tenants["east_acct"], event_types=["VM.*"])
    WebhookFactory(
        name="everything", account=tenants["east_acct"], scope=Scope.GLOBAL, event_types=[]
    )
    WebhookFactory(name="off", account=tenants["east_acct"], scope=Scope.GLOBAL, enabled=False)

    assert listed(admin, "VM.CREATE") == {"billing", "everything"}
    assert received(admin, "VM.CREATE") == {"billing", "everything"}
    assert listed(admin, "VOLUME.CREATE") == received(admin, "VOLUME.CREATE") == {"everything"}


def test_a_tenant_lists_what_its_own_events_reach(tenants):
    user = MembershipFactory(account=tenants["east_sub_acct"], role=Role.DOMAIN_ADMIN).user
    api = client_for(user)
    WebhookFactory(name="mine", account=tenants["east_sub_acct"], event_types=["VM.*"])
    WebhookFactory(
        name="sub-domain",
        account=tenants["east_sub_acct"],
        scope=Scope.DOMAIN,
        domain=tenants["east_sub"],
    )
    WebhookFactory(name="elsewhere", account=tenants["east_sub_acct"], event_types=["NET.*"])

    assert listed(api, "VM.START") == received(api, "VM.START") == {"mine", "sub-domain"}


def test_a_root_admin_may_still_publish_an_event_of_no_account(tenants):
    admin = client_for(UserFactory(username="root", is_superuser=True, is_staff=True))
    admin.post(WEBHOOKS, {"name": "billing", "payload_url": URL}, format="json")
    WebhookFactory(name="everything", account=tenants["east_acct"], scope=Scope.GLOBAL)

    response = admin.post(EVENTS, {"type": "VM.CREATE", "account": None}, format="json")

    assert response.json()["deliveries"] == 1
    assert Delivery.objects.get().webhook.name == "everything"
