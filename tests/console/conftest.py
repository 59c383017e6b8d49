"""The console's logins and webhooks, through Django's test client: a root
admin, a staff domain admin of `east`, and a webhook in each of three accounts.
The browser walk-through is in tests/browser."""

import pytest

from hooks.models import Role
from tests.factories import MembershipFactory, UserFactory, WebhookFactory


@pytest.fixture
def root(client, db):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.fixture
def east_admin(client, tenants):
    """A staff login that is a domain admin of `east` (which holds east-sub)."""
    user = UserFactory(username="east-admin", is_staff=True)
    MembershipFactory(user=user, account=tenants["east_acct"], role=Role.DOMAIN_ADMIN)
    client.force_login(user)
    return client


@pytest.fixture
def hooks(tenants):
    return {
        "east": WebhookFactory(name="east-hook", account=tenants["east_acct"]),
        "east_sub": WebhookFactory(name="east-sub-hook", account=tenants["east_sub_acct"]),
        "west": WebhookFactory(name="west-hook", account=tenants["west_acct"]),
    }
