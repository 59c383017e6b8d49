"""What a newcomer reads of the API: /api/docs/'s operations (a summary
each, no developer docstrings, grouped by resource in order), the browsable
API for console users, and one shape for error bodies."""

from __future__ import annotations

import pytest
import yaml
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions

from core.api import exception_handler
from hooks.models import Role
from tests.api_client import client_for
from tests.conftest import API, WEBHOOKS
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
TAGS = ["webhooks", "events", "deliveries", "tenants", "tokens"]


@pytest.fixture
def schema(client):
    return yaml.safe_load(client.get("/api/schema/").content)


def operations(schema):
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            yield f"{method.upper()} {path}", op


def test_every_operation_has_a_summary_and_no_developer_docstring(schema):
    ops = dict(operations(schema))
    assert len(ops) >= 40
    for name, op in ops.items():
        assert op.get("summary"), f"{name} has no summary"
        text = f"{op.get('summary')} {op.get('description', '')}"
        for leak in ("self.actor", "For views", "request_actor", ".py", "docstring"):
            assert leak not in text, f"{name}: {text!r}"


def test_operations_are_grouped_by_resource_in_order(schema):
    assert [tag["name"] for tag in schema["tags"]] == TAGS
    seen = []
    for name, op in operations(schema):
        assert len(op["tags"]) == 1 and op["tags"][0] in TAGS, name
        if not seen or seen[-1] != op["tags"][0]:
            seen.append(op["tags"][0])
    assert seen == TAGS  # each group once, in this order
    assert next(operations(schema))[0] == "GET /api/v1/webhooks/"


def test_the_docs_page_answers(client):
    assert client.get("/api/docs/").status_code == 200


# --- the browsable API ------------------------------------------------------------------------


def test_a_logged_in_console_user_browses_the_api_in_html(client):
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))

    for url in (API, WEBHOOKS, f"{API}deliveries/", f"{API}jobs/", f"{API}tokens/"):
        response = client.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("text/html")
        assert b"Webhook" in response.content or b"Api Root" in response.content


def test_api_clients_keep_json(tenants):
    token_client = client_for(UserFactory(username="ops", is_staff=True, is_superuser=True))

    for accept in ("application/json", "*/*", "text/html,application/xhtml+xml,*/*;q=0.8"):
        response = token_client.get(WEBHOOKS, HTTP_ACCEPT=accept)
        assert response["Content-Type"] == "application/json", accept


def test_a_tenant_user_in_a_browser_gets_json(client, tenants):
    user = MembershipFactory(account=tenants["east_acct"], role=Role.USER).user
    client.force_login(user)

    response = client.get(WEBHOOKS, HTTP_ACCEPT="text/html,*/*;q=0.8")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_bad_credentials_in_a_browser_are_a_json_401(client):
    response = client.get(
        WEBHOOKS, HTTP_ACCEPT="text/html,*/*;q=0.8", HTTP_AUTHORIZATION="Token nope"
    )

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert isinstance(response.json()["detail"], str)


# --- one shape for errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        exceptions.ValidationError("Something is off."),
        exceptions.ValidationError({"detail": ["Something is off."]}),
        DjangoValidationError("Something is off."),
    ],
)
def test_an_error_detail_is_a_string(exc):
    response = exception_handler(exc, {})

    assert response.status_code == 400
    assert response.data == {"detail": "Something is off."}


def test_field_errors_keep_their_shape():
    response = exception_handler(exceptions.ValidationError({"name": ["Required."]}), {})

    assert response.data == {"name": ["Required."]}
