"""`manage.py create_token <username>`: prints a key that authenticates."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from knox.models import AuthToken

from hooks.models import Role
from tests.api_client import (
    client_with_key,
)
from tests.conftest import (
    WEBHOOKS,
)
from tests.factories import (
    MembershipFactory,
    UserFactory,
)

pytestmark = [
    pytest.mark.django_db,
]


def test_create_token_prints_a_key_that_authenticates(tenants):
    MembershipFactory(
        user=UserFactory(username="cli-user"), account=tenants["east_acct"], role=Role.USER
    )
    out = io.StringIO()

    call_command("create_token", "cli-user", stdout=out)

    key = out.getvalue().strip()
    assert key
    assert client_with_key(key).get(WEBHOOKS).status_code == 200
    assert AuthToken.objects.filter(user__username="cli-user").count() == 1


def test_create_token_for_an_unknown_user_fails(db):
    with pytest.raises(CommandError, match="nobody"):
        call_command("create_token", "nobody", stdout=io.StringIO())
