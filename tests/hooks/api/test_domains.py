"""/api/v1/domains/: names unique among siblings; a domain with accounts stays."""

from __future__ import annotations

import pytest

from hooks.models import Domain
from tests.conftest import (
    ACCOUNTS,
    DOMAINS,
)

pytestmark = [
    pytest.mark.django_db,
]


def test_a_domain_with_accounts_cannot_be_deleted(admin, tenants):
    west = tenants["west"]

    response = admin.delete(f"{DOMAINS}{west.id}/")

    assert response.status_code == 409
    assert "accounts" in response.json()["detail"]
    assert Domain.objects.filter(pk=west.pk).exists()
    # once its account is gone, it can be
    assert admin.delete(f"{ACCOUNTS}{tenants['west_acct'].id}/").status_code == 204
    assert admin.delete(f"{DOMAINS}{west.id}/").status_code == 204
    assert not Domain.objects.filter(pk=west.pk).exists()


def test_a_duplicate_sibling_domain_name_is_refused(admin, tenants):
    body = {"name": "east", "parent": str(tenants["root"].id)}

    response = admin.post(DOMAINS, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert Domain.objects.filter(name="east").count() == 1


def test_renaming_a_domain_to_a_siblings_name_is_refused(admin, tenants):
    response = admin.patch(f"{DOMAINS}{tenants['west'].id}/", {"name": "east"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    tenants["west"].refresh_from_db()
    assert tenants["west"].name == "west"


def test_the_same_domain_name_under_another_parent_is_fine(admin, tenants):
    body = {"name": "east", "parent": str(tenants["west"].id)}

    response = admin.post(DOMAINS, body, format="json")

    assert response.status_code == 201
    assert Domain.objects.filter(name="east").count() == 2
