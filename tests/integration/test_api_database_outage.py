"""Issue 10, item 4 on real PostgreSQL: the web process's backend is
terminated (pg_terminate_backend from another connection) before a request;
the request answers a JSON 503 with Retry-After, and the next one works."""

from __future__ import annotations

import psycopg
import pytest
from django.db import close_old_connections, connection
from rest_framework.test import APIClient

from deliveries.models import Event
from hooks.services import token_issue
from tests.live import wait_until


def terminate_our_backend() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname=s["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])

        def gone():
            return not other.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone()

        wait_until(gone, timeout=10, message="the backend to end")


@pytest.mark.django_db(transaction=True)
def test_a_publish_whose_database_connection_died_answers_503(django_user_model, tenants):
    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    admin = django_user_model.objects.create_superuser("producer", password="x")
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=admin)[1]}")
    event = {"type": "VM.CREATE", "account": str(tenants["east_acct"].id), "data": {"n": 1}}
    assert client.post("/api/v1/events/", event, format="json").status_code == 202

    # When PostgreSQL ends the connection the next request will use
    terminate_our_backend()
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
