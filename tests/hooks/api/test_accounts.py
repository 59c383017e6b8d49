"""/api/v1/accounts/: names unique in a domain; deleting one never takes
a global webhook with it.
"""

from __future__ import annotations

import pytest

from hooks.models import Account, Role, Scope, Webhook
from tests.api_client import (
    client_for,
)
from tests.conftest import (
    ACCOUNTS,
)
from tests.factories import (
    AccountFactory,
    MembershipFactory,
    UserFactory,
    WebhookFactory,
)

pytestmark = [
    pytest.mark.django_db,
]


def test_a_duplicate_account_name_in_a_domain_is_refused(admin, tenants):
    body = {"name": "east-acct", "domain": str(tenants["east"].id)}

    response = admin.post(ACCOUNTS, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert Account.objects.filter(name="east-acct").count() == 1


def test_a_domain_admin_cannot_delete_an_account_holding_a_global_webhook(tenants, root_domain):
    """Deleting an account deletes its webhooks: a domain admin must not take a
    root admin's global webhook down with an account of their subtree."""
    east_admin = UserFactory(username="east-api-admin")
    MembershipFactory(user=east_admin, account=tenants["east_acct"], role=Role.DOMAIN_ADMIN)
    WebhookFactory(account=tenants["east_sub_acct"], domain=root_domain, scope=Scope.GLOBAL)
    client = client_for(east_admin)
    response = client.delete(f"{ACCOUNTS}{tenants['east_sub_acct'].pk}/")
    assert response.status_code == 403
    assert "global ones" in response.json()["detail"]
    assert Webhook.objects.filter(account=tenants["east_sub_acct"]).exists()
    # an account with only its own local webhook still goes
    WebhookFactory(account=tenants["east_acct"], name="plain")
    other = AccountFactory(domain=tenants["east_sub"], name="spare")
    WebhookFactory(account=other)
    assert client.delete(f"{ACCOUNTS}{other.pk}/").status_code == 204
