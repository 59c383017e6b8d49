"""/api/v1/users/ (and the tenant it lives in, and its token): a root admin sets up a tenant."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import authenticate
from knox.models import AuthToken

from hooks.models import Account, Domain, Membership, Role
from tests.api_client import (
    client_with_key,
)
from tests.conftest import (
    ACCOUNTS,
    DOMAINS,
    TOKENS,
    USERS,
    WEBHOOKS,
)
from tests.factories import (
    MembershipFactory,
    UserFactory,
)

pytestmark = [
    pytest.mark.django_db,
]


def test_a_root_admin_sets_up_a_tenant_whose_admin_then_works_with_a_token(admin, root_domain):
    # when root creates a domain under ROOT, an account in it and a domain admin there
    response = admin.post(DOMAINS, {"name": "ops", "parent": str(root_domain.id)}, format="json")
    assert response.status_code == 201, response.json()
    domain = response.json()
    assert domain["parent"] == str(root_domain.id)
    assert domain["path"].startswith(root_domain.path)
    response = admin.post(ACCOUNTS, {"name": "ops-team", "domain": domain["id"]}, format="json")
    assert response.status_code == 201, response.json()
    account = response.json()
    assert account["domain"] == domain["id"]
    body = {
        "username": "olga",
        "password": "correct-horse-9",
        "account": account["id"],
        "role": "domain_admin",
    }
    response = admin.post(USERS, body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()

    # then the user exists, with that role in that account, and the password works
    assert created["username"] == "olga"
    assert (created["account"], created["role"]) == (account["id"], "domain_admin")
    assert "password" not in created
    assert "correct-horse-9" not in json.dumps(created)
    user = authenticate(username="olga", password="correct-horse-9")
    assert user is not None
    assert user.pk == created["id"]
    membership = Membership.objects.get(user=user)
    assert (str(membership.account_id), membership.role) == (account["id"], Role.DOMAIN_ADMIN)
    assert Domain.objects.get(pk=domain["id"]).parent == root_domain
    assert Account.objects.get(pk=account["id"]).name == "ops-team"

    # when root issues the user a token
    response = admin.post(TOKENS, {"user": user.pk}, format="json")

    # then its key is shown this once
    assert response.status_code == 201
    issued = response.json()
    key = issued["key"]
    assert issued["user"] == "olga"
    assert key.startswith(issued["id"])
    listed = admin.get(TOKENS).json()
    assert issued["id"] in {t["id"] for t in listed["results"]}
    assert all("key" not in t for t in listed["results"])
    assert key not in json.dumps(listed)
    assert "key" not in admin.get(f"{TOKENS}{issued['id']}/").json()

    # and the user works with it, sees its own token, and its own tenant
    olga = client_with_key(key)
    assert olga.get(WEBHOOKS).status_code == 200
    own = olga.get(TOKENS).json()["results"]
    assert [t["id"] for t in own] == [issued["id"]]
    assert all("key" not in t for t in own)
    assert [d["id"] for d in olga.get(DOMAINS).json()["results"]] == [domain["id"]]

    # when the user revokes it
    response = olga.delete(f"{TOKENS}{issued['id']}/")

    # then the key no longer works
    assert response.status_code == 204
    assert not AuthToken.objects.filter(user=user).exists()
    assert olga.get(WEBHOOKS).status_code == 401


def test_changing_a_users_role_answers_with_the_new_role(admin, tenants):
    # given a domain admin of east
    user = UserFactory()
    MembershipFactory(user=user, account=tenants["east_acct"], role="domain_admin")

    # when root makes them a plain user
    response = admin.patch(f"/api/v1/users/{user.pk}/", {"role": "user"}, format="json")

    # then the answer and the database both say so
    assert response.status_code == 200
    assert response.json()["role"] == "user"
    assert Membership.objects.get(user=user).role == "user"
