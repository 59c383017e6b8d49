"""Issue 10, item 4 on real PostgreSQL: the web process's backend is
terminated (pg_terminate_backend from another connection) before a request.
A connection cut while idle is noticed by the request's first statement,
which runs again on a new one (core/checkbyuse.py): the publish is stored.
While the database also refuses new connections, the request answers a JSON
503 with Retry-After, and once it takes them again the next one works."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import close_old_connections, connection
from rest_framework.test import APIClient

from deliveries.models import Event
from hooks.services import token_issue
from tests.pgsessions import cut_while_idle, other_connection


@contextmanager
def refusing_connections() -> Iterator[None]:
    """The test database takes no new connection (superusers' included) until
    the block ends; those already open stay. (Said from another database: a
    session cannot refuse connections to its own.)"""
    name = connection.settings_dict["NAME"]
    with other_connection(autocommit=True, dbname="postgres") as other:
        other.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            yield
        finally:
            other.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


EVENT = {"type": "VM.CREATE", "data": {"n": 1}}


@pytest.fixture
def published_once(django_user_model, tenants) -> tuple[APIClient, dict]:
    """A producer's client whose connection has served one publish, and its event."""
    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    admin = django_user_model.objects.create_superuser("producer", password="x")
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=admin)[1]}")
    event = EVENT | {"account": str(tenants["east_acct"].id)}
    assert client.post("/api/v1/events/", event, format="json").status_code == 202
    return client, event


@pytest.mark.django_db(transaction=True)
def test_a_publish_on_a_connection_cut_while_idle_is_stored_on_a_new_one(published_once):
    client, event = published_once

    # When PostgreSQL ends the connection the next request will use
    cut_while_idle()
    response = client.post("/api/v1/events/", event, format="json")

    # Then its first statement found out and ran again on a new connection
    assert response.status_code == 202, response.content
    assert Event.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_publish_while_the_database_takes_no_connection_answers_503(published_once):
    client, event = published_once

    # When PostgreSQL ends the connection and refuses a new one
    cut_while_idle()
    with refusing_connections():
        response = client.post("/api/v1/events/", event, format="json")

    # Then the answer is JSON, 503, with Retry-After; and a retry succeeds
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"].isdigit()
    assert "retry" in response.json()["detail"]
    # (Django drops a broken connection when a request ends; the test client
    # does not, to keep the test database's, so do it as Django would.)
    close_old_connections()
    again = client.post("/api/v1/events/", event, format="json")
    assert again.status_code == 202, again.content
    assert Event.objects.count() == 2
