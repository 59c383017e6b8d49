"""Domain-level delivery settings (hooks.domain_settings): set on a domain,
inherited by its subdomains' webhooks, overridden by a subdomain or the
webhook; each effective value says where it came from."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from hooks.domain_settings import domain_set_delivery, webhook_effective
from hooks.models import Domain, Webhook
from hooks.services import domain_create
from tests.factories import WebhookFactory

pytestmark = [pytest.mark.django_db]


def fresh(webhook: Webhook) -> Webhook:
    """As a worker reads it: with its domain row (deliveries/pipeline/claim.py)."""
    return Webhook.objects.select_related("domain").get(pk=webhook.pk)


def sources(webhook: Webhook) -> dict:
    webhook = fresh(webhook)
    out = {}
    for name in ("timeout", "max_attempts"):
        found = webhook_effective(webhook, name)
        out[name] = (found.value, found.source, found.domain.name if found.domain else None)
    return out


def test_nothing_set_means_the_platform_defaults(tenants, settings):
    settings.WEBHOOK_TIMEOUT, settings.WEBHOOK_MAX_ATTEMPTS = 7, 4
    hook = WebhookFactory(account=tenants["east_sub_acct"])

    assert sources(hook) == {"timeout": (7, "default", None), "max_attempts": (4, "default", None)}
    assert webhook_effective(fresh(hook), "timeout").label == "platform default (WEBHOOK_TIMEOUT)"


def test_a_domain_setting_applies_to_its_subdomains_webhooks(tenants):
    sub_hook = WebhookFactory(account=tenants["east_sub_acct"])
    west_hook = WebhookFactory(account=tenants["west_acct"])

    domain_set_delivery(domain=tenants["east"], delivery_timeout=3, delivery_max_attempts=2)

    assert sources(sub_hook) == {
        "timeout": (3, "domain", "east"),
        "max_attempts": (2, "domain", "east"),
    }
    assert fresh(sub_hook).effective_timeout == 3
    assert fresh(sub_hook).effective_max_attempts == 2
    assert webhook_effective(fresh(sub_hook), "timeout").label == "from domain east"
    # a sibling branch is untouched
    assert sources(west_hook)["timeout"][1] == "default"


def test_a_subdomain_overrides_and_the_webhook_overrides_both(tenants):
    domain_set_delivery(domain=tenants["root"], delivery_timeout=9, delivery_max_attempts=6)
    domain_set_delivery(domain=tenants["east_sub"], delivery_timeout=2)
    sub_hook = WebhookFactory(account=tenants["east_sub_acct"])
    own = WebhookFactory(account=tenants["east_sub_acct"], timeout=1.5, max_attempts=1)

    assert sources(sub_hook) == {
        "timeout": (2, "domain", "east-sub"),
        "max_attempts": (6, "domain", "ROOT"),
    }
    assert sources(own) == {"timeout": (1.5, "webhook", None), "max_attempts": (1, "webhook", None)}


def test_changing_and_clearing_an_ancestor_reaches_the_whole_subtree(tenants):
    sub_hook = WebhookFactory(account=tenants["east_sub_acct"])
    domain_set_delivery(domain=tenants["root"], delivery_timeout=9)
    assert sources(sub_hook)["timeout"] == (9, "domain", "ROOT")

    domain_set_delivery(domain=tenants["east"], delivery_timeout=4)
    assert sources(sub_hook)["timeout"] == (4, "domain", "east")

    domain_set_delivery(domain=tenants["east"], delivery_timeout=None)
    assert sources(sub_hook)["timeout"] == (9, "domain", "ROOT")

    domain_set_delivery(domain=tenants["root"], delivery_timeout=None)
    assert sources(sub_hook)["timeout"][1] == "default"


def test_a_new_subdomain_inherits_what_is_set_above_it(tenants):
    domain_set_delivery(domain=tenants["east"], delivery_max_attempts=5)

    child = domain_create(name="east-sub-2", parent=Domain.objects.get(pk=tenants["east"].pk))
    hook = WebhookFactory(account__domain=child, domain=child)

    assert sources(hook)["max_attempts"] == (5, "domain", "east")


def test_the_domains_timeout_is_capped_like_the_webhooks(tenants, settings):
    settings.WEBHOOK_TIMEOUT_MAX = 30
    domain_set_delivery(domain=tenants["east"], delivery_timeout=300)

    assert fresh(WebhookFactory(account=tenants["east_acct"])).effective_timeout == 30


@pytest.mark.parametrize(
    "values",
    [{"delivery_timeout": 0.1}, {"delivery_max_attempts": 0}, {"delivery_max_attempts": 51}],
)
def test_out_of_range_settings_are_refused(tenants, values):
    with pytest.raises(ValidationError):
        domain_set_delivery(domain=tenants["east"], **values)
