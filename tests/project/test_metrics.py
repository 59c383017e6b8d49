"""GET /metrics (webhooks_project/metrics.py): the token, the format, API latency."""

import pytest

from tests.conftest import WEBHOOKS
from tests.scrape import TOKEN, Scrape, scrape

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN


def test_no_token_configured_means_no_endpoint(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", headers={"Authorization": "Bearer "})
    assert response.status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Token {TOKEN}", TOKEN])
def test_a_missing_or_wrong_token_is_refused(client, token, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"Authorization: Bearer" in response.content


def test_prometheus_parses_the_answer_and_finds_every_metric(client, token):
    scraped = scrape(client)
    for family in (
        "webhooks_events_published",
        "webhooks_deliveries_created",
        "webhooks_delivery_outcomes",
        "webhooks_attempts",
        "webhooks_attempt_duration_seconds",
        "webhooks_delivery_lag_seconds",
        "webhooks_sweeper_requeued",
        "webhooks_sweeper_expired_leases",
        "webhooks_purge_deleted",
        "webhooks_http_request_duration_seconds",
        "webhooks_deliveries_due",
        "webhooks_oldest_due_delivery_age_seconds",
        "webhooks_deliveries_held",
        "webhooks_webhooks",
        "webhooks_webhook_consecutive_failures",
        "webhooks_workers_alive",
        "webhooks_sweep_last_run_timestamp_seconds",
        "webhooks_purge_last_run_timestamp_seconds",
        "webhooks_database_up",
    ):
        assert family in scraped.families, family


def test_api_latency_is_counted_by_view_name_never_by_path(client, admin, token):
    before = scrape(client)
    key = {"view": "webhook-list", "method": "GET", "status": "2xx"}

    admin.get(WEBHOOKS)
    admin.get(f"{WEBHOOKS}01890a5d-ac96-774b-bcce-b302099a8057/")  # a 404 of the detail view

    after = scrape(client)
    count = "webhooks_http_request_duration_seconds_count"
    assert after.value(count, **key) - before.value(count, **key) == 1
    assert (
        after.value(count, view="webhook-detail", status="4xx")
        - before.value(count, view="webhook-detail", status="4xx")
        == 1
    )
    views = {x["view"] for x in after.labels(count)}
    assert not any("01890a5d" in v for v in views)


def test_a_published_event_is_counted(client, admin, token, tenants):
    before = scrape(client)
    admin.post("/api/v1/events/", {"type": "VM.CREATE", "data": {}}, format="json")
    after = scrape(client)
    published = "webhooks_events_published_total"
    assert after.value(published) - before.value(published) == 1


def test_scrape_without_the_database_still_answers(client, token, monkeypatch):
    from django.db import OperationalError

    def broken(now):
        raise OperationalError("gone")

    monkeypatch.setattr("deliveries.gauges.backlog_metrics", broken)
    scraped = scrape(client)
    assert scraped.value("webhooks_database_up") == 0
    assert "webhooks_attempts" in scraped.families


def test_scrape_type():
    assert Scrape("").samples == []
