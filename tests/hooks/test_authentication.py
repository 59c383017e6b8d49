"""API tokens: one query proves who is calling and what they may do; without a
valid token every endpoint answers 401."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from deliveries.models import Event
from hooks.callhooks import call_listeners
from hooks.models import Role
from hooks.services import token_issue, tokens_purge
from tests.api_client import (
    assert_detail,
    client_with_key,
    event_item,
    nothing_written,
    target_url,
)
from tests.conftest import (
    API,
    BATCH,
    DELIVERIES,
    EVENTS,
    RECOVER,
    TEST_URL,
    WEBHOOKS,
)
from tests.factories import (
    MembershipFactory,
    UserFactory,
    WebhookFactory,
)
from tests.pgsessions import cut_while_idle, prepared_plans

pytestmark = pytest.mark.django_db


def test_a_publish_costs_one_query_for_the_caller_then_the_publish_itself(tenants):
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    WebhookFactory(account=tenants["east_acct"])
    client = client_with_key(token_issue(user=membership.user)[1])
    # Read by an earlier call in a running process (at most every
    # WEBHOOK_CALL_HOOKS_REFRESH seconds): nobody listens to calls.
    call_listeners.phases(method="event.publish", account_id=None, domain=None)

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
        response = client_with_key(key).post(EVENTS, {"type": "VM.CREATE"}, format="json")

    assert response.status_code == 401
    assert not AuthToken.objects.filter(pk=token.pk).exists()


def test_a_revoked_token_is_refused_on_the_next_request(tenants):
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    token, key = token_issue(user=membership.user)
    client = client_with_key(key)
    assert client.get(EVENTS).status_code == 200  # the token's query compiled and run

    token.delete()

    assert_detail(client.get(EVENTS), 401, "Invalid token")


def test_a_token_expiring_between_two_requests_is_refused_at_once(tenants):
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    token, key = token_issue(user=membership.user, expiry_hours=1)
    client = client_with_key(key)
    assert client.get(EVENTS).status_code == 200

    with time_machine.travel(token.expiry + dt.timedelta(seconds=1)):
        response = client.get(EVENTS)

    assert response.status_code == 401
    assert not AuthToken.objects.filter(pk=token.pk).exists()


def test_a_token_of_an_inactive_user_is_refused(tenants):
    user = UserFactory(is_active=False)

    response = client_with_key(token_issue(user=user)[1]).post(EVENTS, {"type": "X"}, format="json")

    assert response.status_code == 401


def test_a_login_without_membership_authenticates_but_may_not_publish(tenants):
    key = token_issue(user=UserFactory())[1]

    response = client_with_key(key).post(EVENTS, {"type": "VM.CREATE"}, format="json")

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


# --- without a valid token --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("get", WEBHOOKS, id="webhooks-list"),
        pytest.param("post", WEBHOOKS, id="webhooks-create"),
        pytest.param("patch", "hook", id="webhook-patch"),
        pytest.param("post", TEST_URL, id="webhooks-test-url"),
        pytest.param("post", EVENTS, id="events-publish"),
        pytest.param("post", BATCH, id="events-batch"),
        pytest.param("get", DELIVERIES, id="deliveries-list"),
        pytest.param("post", RECOVER, id="recover"),
        pytest.param("get", f"{API}domains/", id="domains-list"),
        pytest.param("post", f"{API}tokens/", id="tokens-create"),
    ],
)
@pytest.mark.parametrize(
    ("authorization", "fragment"),
    [
        pytest.param(None, "credentials were not provided", id="no-token"),
        pytest.param("Token " + "0" * 64, "Invalid token", id="unknown-token"),
        pytest.param("Token", "Invalid token header", id="empty-token"),
        pytest.param("Bearer abc", "credentials were not provided", id="other-scheme"),
    ],
)
def test_without_a_valid_token_it_is_401(tenants, hook, method, path, authorization, fragment):
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)

    with nothing_written():
        response = getattr(client, method)(
            target_url(path, hook), event_item(tenants), format="json"
        )

    assert_detail(response, 401, fragment)
    assert response["WWW-Authenticate"].startswith("Token")


@pytest.mark.django_db(transaction=True)
def test_a_request_on_a_connection_cut_while_idle_is_answered_on_a_new_one(tenants, monkeypatch):
    """The token query is a request's first statement: it checks the
    connection (core.checkbyuse) in place of Django's SELECT 1."""
    if connection.vendor != "postgresql":
        pytest.skip("cutting a server-side connection needs PostgreSQL")
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    client = client_with_key(token_issue(user=membership.user)[1])
    checks = []
    usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or usable())
    close_old_connections()  # as a request starts (the test client does not)
    assert client.get(WEBHOOKS).status_code == 200
    assert checks == []  # no SELECT 1 before the token query on a live connection
    # given the web process's connection is cut between two requests
    dead = cut_while_idle()

    response = client.post(EVENTS, {"type": "VM.CREATE", "data": {}}, format="json")

    assert response.status_code == 202, response.content
    assert Event.objects.filter(type="VM.CREATE").count() == 1
    assert connection.connection.info.backend_pid != dead


@pytest.mark.django_db(transaction=True)
def test_the_token_query_is_prepared_and_planned_through_indexes_on_tiny_tables(tenants):
    # given tables of a few rows, analysed: the worst case for a plan kept as they grow
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner")
    from hooks.authentication import TOKENS_OF_KEY

    membership = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    client = client_with_key(token_issue(user=membership.user)[1])
    with connection.cursor() as cursor:
        for table in ("knox_authtoken", "auth_user", "hooks_membership", "hooks_account"):
            cursor.execute(f"ANALYZE {table}")
    connection.close()

    # when two requests authenticate
    assert client.get(WEBHOOKS).status_code == 200
    assert client.get(WEBHOOKS).status_code == 200

    # then the token query was prepared once, each table read through an index
    [plan] = prepared_plans(TOKENS_OF_KEY._compiled("default").sql)
    scans = [line for line in plan.splitlines() if "Scan" in line]
    assert len(scans) == 5 and all("Index" in line for line in scans), plan
