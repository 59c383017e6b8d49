"""webhooks_project.sessions: no session, user or message work for API calls
made with a token; everything else (the console, the browsable API, other
schemes) keeps all three."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import RequestFactory

from hooks.models import Role
from hooks.services import token_issue
from tests.conftest import API, WEBHOOKS
from tests.factories import MembershipFactory, UserFactory
from webhooks_project.sessions import (
    AuthenticationMiddleware,
    MessageMiddleware,
    SessionMiddleware,
)

pytestmark = pytest.mark.django_db


def what_the_view_sees(path: str, **headers) -> set[str]:
    """The request attributes the three middleware left for the view."""
    seen: set[str] = set()

    def view(request):
        seen.update(name for name in ("session", "user", "_messages") if hasattr(request, name))
        return "answer"

    chain = SessionMiddleware(AuthenticationMiddleware(MessageMiddleware(view)))
    assert chain(RequestFactory().post(path, **headers)) == "answer"
    return seen


@pytest.mark.parametrize("scheme", ["Token", "token", "TOKEN"])
def test_an_api_call_with_a_token_gets_none_of_them(scheme):
    assert what_the_view_sees(f"{API}events/", HTTP_AUTHORIZATION=f"{scheme} abc") == set()


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        pytest.param(f"{API}events/", {}, id="api-without-credentials"),
        pytest.param(f"{API}events/", {"HTTP_AUTHORIZATION": "Bearer abc"}, id="other-scheme"),
        pytest.param(f"{API}events/", {"HTTP_AUTHORIZATION": "Tokens abc"}, id="not-the-scheme"),
        pytest.param("/admin/", {"HTTP_AUTHORIZATION": "Token abc"}, id="token-outside-api"),
    ],
)
def test_every_other_request_gets_all_three(path, headers):
    assert what_the_view_sees(path, **headers) == {"session", "user", "_messages"}


def test_a_browser_session_still_reaches_the_api_and_the_console(client):
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))

    assert client.get(WEBHOOKS, HTTP_ACCEPT="text/html").status_code == 200
    # a header of another scheme leaves the session to decide, as before
    assert client.get(WEBHOOKS, HTTP_AUTHORIZATION="Bearer abc").status_code == 200
    # a token header outside the API does not log the console out
    assert client.get("/admin/", HTTP_AUTHORIZATION="Token abc").status_code == 200


def test_the_token_decides_even_beside_a_session(client, tenants):
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    user = MembershipFactory(account=tenants["east_acct"], role=Role.USER).user

    bad = client.get(f"{API}tokens/", HTTP_AUTHORIZATION="Token " + "0" * 64)
    good = client.get(f"{API}tokens/", HTTP_AUTHORIZATION=f"Token {token_issue(user=user)[1]}")

    assert bad.status_code == 401
    assert good.status_code == 200
    # the token's user's tokens, not the session's superuser's
    assert {token["user"] for token in good.json()["results"]} == {user.username}


def test_the_admin_finds_its_middleware():
    errors = [
        e.id for e in checks.run_checks() if e.id in {"admin.E408", "admin.E409", "admin.E410"}
    ]
    assert errors == []
