"""API tokens: one query proves who is calling and what they may do."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from deliveries.models import Event
from hooks.models import Role
from hooks.services import token_issue, tokens_purge
from tests.factories import MembershipFactory, UserFactory, WebhookFactory

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_publish_costs_one_query_for_the_caller_then_the_publish_itself(tenants):
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    WebhookFactory(account=tenants["east_acct"])
    client = client_with(token_issue(user=membership.user)[1])

    with CaptureQueriesContext(connection) as queries:
        response = client.post(EVENTS, {"type": "VM.CREATE", "data": {}}, format="json")

    assert response.status_code == 202
    event = Event.objects.get()
    assert event.account == tenants["east_acct"] and event.domain == tenants["east"]
    tables = [
        q["sql"].split(" FROM ")[1].split()[0] for q in queries if q["sql"].startswith("SELECT")
    ]
    # The token with its user, membership, account and domain; then matching.
    assert tables == ['"knox_authtoken"', '"hooks_webhook"']


def test_an_expired_token_is_refused_and_deleted(tenants):
    user = UserFactory()
    token, key = token_issue(user=user, expiry_hours=1)

    with time_machine.travel(timezone.now() + dt.timedelta(hours=2)):
        response = client_with(key).post(EVENTS, {"type": "VM.CREATE"}, format="json")

    assert response.status_code == 401
    assert not AuthToken.objects.filter(pk=token.pk).exists()


def test_a_token_of_an_inactive_user_is_refused(tenants):
    user = UserFactory(is_active=False)

    response = client_with(token_issue(user=user)[1]).post(EVENTS, {"type": "X"}, format="json")

    assert response.status_code == 401


def test_a_login_without_membership_authenticates_but_may_not_publish(tenants):
    key = token_issue(user=UserFactory())[1]

    response = client_with(key).post(EVENTS, {"type": "VM.CREATE"}, format="json")

    assert response.status_code == 403


def test_tokens_purge_deletes_expired_tokens_only(tenants):
    user = UserFactory()
    expired, _ = token_issue(user=user, expiry_hours=1)
    live, _ = token_issue(user=user, expiry_hours=10)
    forever, _ = token_issue(user=user)

    deleted = tokens_purge(now=timezone.now() + dt.timedelta(hours=2))

    assert deleted == 1
    assert set(AuthToken.objects.values_list("pk", flat=True)) == {live.pk, forever.pk}
    assert not AuthToken.objects.filter(pk=expired.pk).exists()
