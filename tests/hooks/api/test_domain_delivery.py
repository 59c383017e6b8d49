"""Delivery settings on /api/v1/domains/ and the effective values, with their
source, on /api/v1/webhooks/."""

from __future__ import annotations

import pytest

from tests.api_client import url_of
from tests.conftest import DOMAINS
from tests.factories import WebhookFactory

pytestmark = [pytest.mark.django_db]


def effective(client, webhook) -> dict:
    body = client.get(url_of(webhook)).json()["effective_delivery"]
    return {k: (v["value"], v["source"], (v["domain"] or {}).get("name")) for k, v in body.items()}


def test_a_domain_setting_shows_on_its_subdomains_webhooks(admin, tenants, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 8
    hook = WebhookFactory(account=tenants["east_sub_acct"])

    response = admin.patch(
        f"{DOMAINS}{tenants['east'].id}/", {"delivery_timeout": 4.5}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["delivery_timeout"] == 4.5
    assert response.json()["effective_delivery"]["timeout"]["source"] == "domain"
    assert effective(admin, hook) == {
        "timeout": (4.5, "domain", "east"),
        "max_attempts": (8, "default", None),
    }
    detail = admin.get(url_of(hook)).json()["effective_delivery"]
    assert detail["timeout"]["label"] == "from domain east"
    assert detail["max_attempts"]["setting"] == "WEBHOOK_MAX_ATTEMPTS"


def test_a_subdomain_and_a_webhook_override(admin, tenants):
    admin.patch(f"{DOMAINS}{tenants['east'].id}/", {"delivery_max_attempts": 5}, format="json")
    admin.patch(f"{DOMAINS}{tenants['east_sub'].id}/", {"delivery_max_attempts": 2}, format="json")
    sub_hook = WebhookFactory(account=tenants["east_sub_acct"])
    east_hook = WebhookFactory(account=tenants["east_acct"])
    own = WebhookFactory(account=tenants["east_sub_acct"], max_attempts=9)

    assert effective(admin, sub_hook)["max_attempts"] == (2, "domain", "east-sub")
    assert effective(admin, east_hook)["max_attempts"] == (5, "domain", "east")
    assert effective(admin, own)["max_attempts"] == (9, "webhook", None)
    # clearing the subdomain's: east's applies again
    admin.patch(
        f"{DOMAINS}{tenants['east_sub'].id}/", {"delivery_max_attempts": None}, format="json"
    )
    assert effective(admin, sub_hook)["max_attempts"] == (5, "domain", "east")


def test_a_new_domain_may_carry_settings_and_inherits_the_rest(admin, tenants):
    admin.patch(f"{DOMAINS}{tenants['east'].id}/", {"delivery_timeout": 6}, format="json")

    response = admin.post(
        DOMAINS,
        {"name": "east-2", "parent": str(tenants["east"].id), "delivery_max_attempts": 3},
        format="json",
    )

    assert response.status_code == 201, response.content
    settings_ = response.json()["effective_delivery"]
    assert (settings_["timeout"]["value"], settings_["timeout"]["domain"]["name"]) == (6, "east")
    assert (settings_["max_attempts"]["value"], settings_["max_attempts"]["source"]) == (
        3,
        "domain",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"delivery_timeout": 0}, "delivery_timeout"),
        ({"delivery_timeout": "soon"}, "delivery_timeout"),
        ({"delivery_max_attempts": 0}, "delivery_max_attempts"),
        ({"delivery_max_attempts": 51}, "delivery_max_attempts"),
    ],
)
def test_bad_domain_settings_are_400s(admin, tenants, body, field):
    response = admin.patch(f"{DOMAINS}{tenants['east'].id}/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
