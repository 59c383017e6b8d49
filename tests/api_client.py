"""The REST API as a tenant calls it: an APIClient holding a real (knox) token,
the bodies tests send, and the checks on a refusal that many endpoints share."""

from __future__ import annotations

import json
from contextlib import contextmanager
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from deliveries.models import Delivery, DeliveryAttempt, Event
from hooks.models import Account, Domain, Membership, Webhook
from hooks.services import token_issue
from tests.conftest import WEBHOOKS


def client_for(user) -> APIClient:
    return client_with_key(token_issue(user=user)[1])


def client_with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def url_of(webhook) -> str:
    return f"{WEBHOOKS}{webhook.id}/"


def target_url(path: str, hook: Webhook) -> str:
    """`path`, or the webhook's own URL for the placeholder "hook"."""
    return url_of(hook) if path == "hook" else path


def rotate(client, webhook, **body):
    return client.post(f"{url_of(webhook)}rotate-secret/", body, format="json")


# --- request bodies ---------------------------------------------------------------------


def webhook_body(tenants, **kwargs) -> dict:
    """A valid webhook for east's account, with `kwargs` changed."""
    body = {
        "name": "orders",
        "account": str(tenants["east_acct"].id),
        "payload_url": "https://example.com/hook",
        "event_types": ["VM.*"],
    }
    body.update(kwargs)
    return body


# Event types an event may not have (publishing, and the test endpoints).
BAD_EVENT_TYPES = [
    pytest.param("VM CREATE", id="space"),
    pytest.param("VM/CREATE", id="slash"),
    pytest.param("VM:CREATE", id="colon"),
    pytest.param("VM.CREATE\n", id="trailing-lf"),
    pytest.param(" VM.CREATE", id="leading-space"),
    pytest.param("VM\r\nCREATE", id="crlf"),
    pytest.param("VM.CREATE;drop", id="semicolon"),
    pytest.param("VM.*", id="wildcard"),
    pytest.param("<script>", id="angle-brackets"),
    pytest.param("VM.CRÉATE", id="non-ascii"),
    pytest.param("", id="empty"),
    pytest.param("A" * 129, id="129-characters"),
]


def event_item(tenants, type="VM.CREATE", **kwargs) -> dict:
    """A valid event of east's account (no id: the API gives it one)."""
    return {"type": type, "account": str(tenants["east_acct"].id), "data": {"n": 1}} | kwargs


# --- refusals ---------------------------------------------------------------------------

WRITTEN_MODELS = (Domain, Account, Membership, Webhook, Event, Delivery, DeliveryAttempt)


def database_rows() -> dict[str, list[dict]]:
    """Every row of the models a request could write, as plain values."""
    state = {
        model.__name__: sorted(model.objects.values(), key=lambda row: str(row["id"]))
        for model in WRITTEN_MODELS
    }
    state["User"] = sorted(
        get_user_model().objects.values("id", "username", "password", "is_superuser"),
        key=lambda row: row["id"],
    )
    return state


def _refuse_to_send():
    raise AssertionError("bad input reached the sender")


@contextmanager
def nothing_written():
    """Assert that no row was created, changed or deleted inside the block, and
    that nothing was sent: bad input is refused before it reaches the sender."""
    before = database_rows()
    with mock.patch("deliveries.http.get_sender", _refuse_to_send):
        yield
    assert database_rows() == before, "a refused request wrote to the database"


def errors(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert isinstance(body, dict), body
    return body


def messages(body: dict, field: str) -> str:
    """The messages under `field`, flattened to one string to search."""
    return json.dumps(body[field])


def assert_field_error(response, field: str, fragment: str, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = errors(response)
    assert field in body, body
    assert fragment.lower() in messages(body, field).lower(), body


def assert_detail(response, status: int, fragment: str) -> None:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = errors(response)
    assert "detail" in body, body
    assert fragment.lower() in json.dumps(body["detail"]).lower(), body
