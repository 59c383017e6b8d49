"""Roles (hooks/permissions.py): users may not reach the tenant-admin endpoints
(domains, accounts, users), even for their own tenant.
"""

from __future__ import annotations

import pytest

from tests.api_client import (
    assert_detail,
    nothing_written,
)
from tests.conftest import (
    API,
)

pytestmark = [
    pytest.mark.django_db,
]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("get", f"{API}domains/", id="domains-list"),
        pytest.param("get", f"{API}accounts/", id="accounts-list"),
        pytest.param("get", f"{API}users/", id="users-list"),
        pytest.param("post", f"{API}domains/", id="domains-create"),
        pytest.param("post", f"{API}accounts/", id="accounts-create"),
        pytest.param("post", f"{API}users/", id="users-create"),
    ],
)
def test_a_user_cannot_reach_the_tenant_admin_endpoints(east_user, tenants, method, path):
    body = {"name": "mine", "parent": str(tenants["east"].id), "domain": str(tenants["east"].id)}

    with nothing_written():
        response = getattr(east_user, method)(path, body, format="json")

    assert_detail(response, 403, "Only root and domain admins")


def test_a_user_reading_their_own_domain_is_403_too(east_user, tenants):
    with nothing_written():
        response = east_user.get(f"{API}domains/{tenants['east'].id}/")

    assert_detail(response, 403, "Only root and domain admins")
