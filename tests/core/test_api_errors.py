"""Issue 10, item 4: every API error is JSON; an outage of the database or the
broker is a 503 with Retry-After, whether DRF or Django's handler500 sees it."""

from __future__ import annotations

import pytest
import redis.exceptions
from django.db import OperationalError
from django.test import Client, RequestFactory

from core.api import RETRY_AFTER_SECONDS, exception_handler, server_error
from hooks.api import WebhookViewSet


@pytest.mark.parametrize(
    "exc",
    [OperationalError("server closed the connection"), redis.exceptions.ConnectionError("down")],
)
def test_drf_views_answer_an_outage_with_a_json_503(exc):
    response = exception_handler(exc, {})
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "retry" in response.data["detail"]


@pytest.mark.parametrize(
    ("exc", "status"), [(OperationalError("gone"), 503), (RuntimeError("a bug"), 500)]
)
def test_handler500_answers_json_under_api(exc, status):
    request = RequestFactory().get("/api/v1/events/")
    try:
        raise exc
    except Exception:
        response = server_error(request)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert ("Retry-After" in response) == (status == 503)


def test_handler500_leaves_the_console_its_html_page():
    response = server_error(RequestFactory().get("/admin/"))
    assert response.status_code == 500 and response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_a_bug_in_an_api_view_is_a_json_500_not_an_html_page(monkeypatch, django_user_model):
    def broken(self, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(WebhookViewSet, "list", broken)
    client = Client(raise_request_exception=False)
    client.force_login(django_user_model.objects.create_superuser("ops", password="x"))

    response = client.get("/api/v1/webhooks/")

    assert response.status_code == 500
    assert response.json() == {"detail": "Server error."}
