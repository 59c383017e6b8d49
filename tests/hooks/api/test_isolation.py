"""Tenant isolation over hooks' endpoints: who may see and change which
webhooks, domains, accounts, users and API tokens.

The rules, the world every test starts from and its actors are in
tests/isolation.py; the deliveries side is tests/deliveries/api/test_isolation.py.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from knox.models import AuthToken

from hooks.models import Role, Scope, Webhook
from hooks.services import user_create
from tests.api_client import (
    client_for,
)
from tests.conftest import (
    API,
    PUBLIC_URL,
)
from tests.factories import (
    UserFactory,
)
from tests.isolation import (
    ACTOR_HOMES,
    ACTORS,
    TENANTS,
    check_detail_route,
    check_filter,
    check_list,
    detail_cases,
    list_cases,
    snapshot,
)

pytestmark = [
    pytest.mark.django_db,
]


ENDPOINTS = ("webhooks", "domains", "accounts", "users", "tokens")


# Creating a webhook for a tenant's account, by scope: local, domain, global.
# 400: the account is not one the actor can see; 403: a scope the role may not have.
CREATE_WEBHOOK = {
    #                  root           east           east_sub       west
    "root_admin":    ("201 201 201", "201 201 201", "201 201 201", "201 201 201"),
    "east_admin":    ("400 400 400", "201 201 403", "201 201 403", "400 400 400"),
    "east_user":     ("400 400 400", "201 403 403", "400 400 400", "400 400 400"),
    "east_sub_user": ("400 400 400", "400 400 400", "201 403 403", "400 400 400"),
    "west_admin":    ("400 400 400", "400 400 400", "400 400 400", "201 201 403"),
    "west_user":     ("400 400 400", "400 400 400", "400 400 400", "201 403 403"),
}  # fmt: skip


SCOPES = (Scope.LOCAL, Scope.DOMAIN, Scope.GLOBAL)


# Changing the scope of the actor's own tenant's (local) webhook, by PUT or PATCH.
UPDATE_SCOPE = {
    #                  local  domain  global
    "root_admin":    (200,   200,    200),
    "east_admin":    (200,   200,    403),
    "east_user":     (200,   403,    403),
    "east_sub_user": (200,   403,    403),
    "west_admin":    (200,   200,    403),
    "west_user":     (200,   403,    403),
}  # fmt: skip


# --- detail routes: actor x endpoint x verb x tenant ------------------------------------------


@pytest.mark.parametrize(
    ("actor", "endpoint", "verb", "target", "expected"), detail_cases(*ENDPOINTS)
)
def test_detail_routes(world, actor, endpoint, verb, target, expected):
    check_detail_route(world, actor, endpoint, verb, target, expected)


# --- lists ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("actor", "endpoint", "expected"), list_cases(*ENDPOINTS))
def test_lists_show_exactly_what_the_actor_sees(world, actor, endpoint, expected):
    check_list(world, actor, endpoint, expected)


def test_a_staff_login_without_a_membership_is_a_root_admin(world):
    staff = client_for(UserFactory(username="staff", is_staff=True))

    listed = staff.get(f"{API}webhooks/").json()["results"]

    assert {item["id"] for item in listed} == {world.id(f"hook:{t}") for t in TENANTS}


def test_a_login_without_a_membership_sees_nothing(world):
    nobody = client_for(UserFactory(username="nobody"))

    for endpoint in ("webhooks", "events", "deliveries"):
        assert nobody.get(f"{API}{endpoint}/").json()["results"] == []
    for endpoint in ("domains", "accounts", "users"):
        assert nobody.get(f"{API}{endpoint}/").status_code == 403
    assert nobody.get(f"{API}webhooks/{world.id('hook:root')}/").status_code == 404


# --- filters naming another tenant's ids ------------------------------------------------------


FILTERS = [
    # (actor, query, exactly what is listed)
    ("east_user", "webhooks/?account={account:west}", ""),
    ("east_user", "webhooks/?domain={domain:west}", ""),
    ("east_user", "webhooks/?account={account:east_sub}", ""),
    ("east_user", "webhooks/?search=west", ""),
    ("east_admin", "webhooks/?account={account:root}", ""),
    ("east_admin", "webhooks/?domain={domain:west}", ""),
    ("east_admin", "accounts/?domain={domain:west}", ""),
    ("east_admin", "domains/?parent={domain:west}", ""),
    ("west_admin", "domains/?parent={domain:east}", ""),
    # the same filters do work on the actor's own tenants
    ("east_admin", "domains/?parent={domain:east}", "domain:east_sub subdomain:east"),
    ("root_admin", "webhooks/?account={account:west}", "hook:west"),
]


@pytest.mark.parametrize(
    ("actor", "query", "expected"),
    [pytest.param(*case, id=f"{case[0]}-{case[1]}") for case in FILTERS],
)
def test_filters_naming_another_tenants_ids_list_nothing_of_theirs(world, actor, query, expected):
    check_filter(world, actor, query, expected)


# --- creating and updating webhooks: scope rules ----------------------------------------------


def create_cases():
    for actor, row in CREATE_WEBHOOK.items():
        for tenant, cell in zip(TENANTS, row, strict=True):
            for scope, status in zip(SCOPES, cell.split(), strict=True):
                yield pytest.param(
                    actor, tenant, scope, int(status), id=f"{actor}-create-{scope}-for-{tenant}"
                )


@pytest.mark.parametrize(("actor", "tenant", "scope", "expected"), list(create_cases()))
def test_creating_a_webhook_follows_the_scope_rules(world, actor, tenant, scope, expected):
    body = {
        "name": "created",
        "payload_url": PUBLIC_URL,
        "account": world.id(f"account:{tenant}"),
        "scope": scope,
    }

    response = world.clients[actor].post(f"{API}webhooks/", body, format="json")

    assert response.status_code == expected, response.content
    created = Webhook.objects.filter(name="created")
    if expected == 201:
        webhook = created.get()
        assert (webhook.account, webhook.scope) == (world[f"account:{tenant}"], scope)
    else:
        assert not created.exists()
    if expected == 400:
        assert list(response.json()) == ["account"]


@pytest.mark.parametrize(
    ("actor", "account", "domain", "expected"),
    [
        # a domain the actor cannot see does not exist (400)
        ("east_admin", "east", "west", 400),
        ("east_admin", "east_sub", "root", 400),
        ("east_user", "east", "east_sub", 400),
        ("west_admin", "west", "east", 400),
        # within the subtree it may be filed anywhere
        ("east_admin", "east_sub", "east", 201),
        ("east_admin", "east", "east_sub", 201),
    ],
)
def test_a_webhooks_domain_must_be_one_the_actor_sees(world, actor, account, domain, expected):
    body = {
        "name": "created",
        "payload_url": PUBLIC_URL,
        "account": world.id(f"account:{account}"),
        "domain": world.id(f"domain:{domain}"),
        "scope": Scope.DOMAIN if actor.endswith("admin") else Scope.LOCAL,
    }

    response = world.clients[actor].post(f"{API}webhooks/", body, format="json")

    assert response.status_code == expected, response.content
    assert Webhook.objects.filter(name="created").exists() is (expected == 201)


def update_scope_cases():
    for actor, statuses in UPDATE_SCOPE.items():
        for scope, status in zip(SCOPES, statuses, strict=True):
            for method in ("PUT", "PATCH"):
                yield pytest.param(
                    actor, method, scope, status, id=f"{actor}-{method}-scope-{scope}"
                )


@pytest.mark.parametrize(("actor", "method", "scope", "expected"), list(update_scope_cases()))
def test_updating_a_webhook_cannot_escalate_its_scope(world, actor, method, scope, expected):
    target = world[f"hook:{ACTOR_HOMES[actor][0]}"]
    before = snapshot(target)
    body = {"name": "renamed", "payload_url": PUBLIC_URL, "scope": scope}

    response = getattr(world.clients[actor], method.lower())(
        f"{API}webhooks/{target.pk}/", body, format="json"
    )

    assert response.status_code == expected, response.content
    target.refresh_from_db()
    if expected == 200:
        assert (target.scope, target.name) == (scope, "renamed")
    else:
        assert snapshot(target) == before


@pytest.mark.parametrize(
    ("actor", "field", "tenant"),
    [
        ("east_user", "account", "west"),
        ("east_user", "account", "east_sub"),
        ("east_user", "domain", "east_sub"),
        ("east_admin", "account", "west"),
        ("east_admin", "domain", "root"),
        ("west_admin", "account", "east"),
    ],
)
def test_a_webhook_cannot_be_moved_to_an_unseen_account_or_domain(world, actor, field, tenant):
    target = world[f"hook:{ACTOR_HOMES[actor][0]}"]
    before = snapshot(target)
    other = world.id(f"{field}:{tenant}")

    response = world.clients[actor].patch(
        f"{API}webhooks/{target.pk}/", {field: other}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert snapshot(target) == before


# --- managing domains, accounts and users -----------------------------------------------------


@pytest.mark.parametrize("actor", ["east_user", "east_sub_user", "west_user"])
@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        # all within the user's own tenant: the role alone refuses
        ("domains", {"name": "new", "parent": "domain:{home}"}),
        ("accounts", {"name": "new", "domain": "domain:{home}"}),
        ("users", {"username": "new", "account": "account:{home}"}),
    ],
)
def test_users_cannot_create_domains_accounts_or_users(world, actor, endpoint, body):
    home = ACTOR_HOMES[actor][0]
    body = {
        key: world.id(value.format(home=home)) if ":" in value else value
        for key, value in body.items()
    }

    response = world.clients[actor].post(f"{API}{endpoint}/", body, format="json")

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("actor", "endpoint", "field", "tenant", "expected"),
    [
        ("east_admin", "domains", "parent", "east", 201),
        ("east_admin", "domains", "parent", "east_sub", 201),
        ("east_admin", "domains", "parent", "root", 400),
        ("east_admin", "domains", "parent", "west", 400),
        ("west_admin", "domains", "parent", "east_sub", 400),
        ("east_admin", "accounts", "domain", "east_sub", 201),
        ("east_admin", "accounts", "domain", "west", 400),
        ("east_admin", "accounts", "domain", "root", 400),
        ("west_admin", "accounts", "domain", "east", 400),
        ("root_admin", "accounts", "domain", "west", 201),
    ],
)
def test_admins_create_domains_and_accounts_only_inside_their_subtree(
    world, actor, endpoint, field, tenant, expected
):
    body = {"name": "new", field: world.id(f"domain:{tenant}")}

    response = world.clients[actor].post(f"{API}{endpoint}/", body, format="json")

    assert response.status_code == expected, response.content
    if expected == 400:
        assert list(response.json()) == [field]


@pytest.mark.parametrize(
    ("actor", "tenant", "role", "expected"),
    [
        ("east_admin", "east", Role.USER, 201),
        ("east_admin", "east_sub", Role.DOMAIN_ADMIN, 201),
        ("east_admin", "east", Role.ROOT_ADMIN, 403),
        ("east_admin", "east_sub", Role.ROOT_ADMIN, 403),
        ("west_admin", "west", Role.ROOT_ADMIN, 403),
        ("east_admin", "west", Role.USER, 400),
        ("east_admin", "root", Role.USER, 400),
        ("west_admin", "east_sub", Role.DOMAIN_ADMIN, 400),
        ("root_admin", "west", Role.ROOT_ADMIN, 201),
    ],
)
def test_admins_create_users_only_inside_their_subtree_and_below_root(
    world, actor, tenant, role, expected
):
    body = {
        "username": "new",
        "password": "correct-horse-battery",
        "account": world.id(f"account:{tenant}"),
        "role": role,
    }

    response = world.clients[actor].post(f"{API}users/", body, format="json")

    assert response.status_code == expected, response.content
    created = get_user_model().objects.filter(username="new").first()
    if expected == 201:
        assert (created.membership.account, created.membership.role) == (
            world[f"account:{tenant}"],
            role,
        )
    else:
        assert created is None
    if expected == 400:
        assert list(response.json()) == ["account"]


@pytest.mark.parametrize("actor", ["east_admin", "west_admin"])
def test_a_domain_admin_cannot_promote_a_user_to_root_admin(world, actor):
    member = world[f"member:{ACTOR_HOMES[actor][0]}"]

    response = world.clients[actor].patch(
        f"{API}users/{member.pk}/", {"role": Role.ROOT_ADMIN}, format="json"
    )

    assert response.status_code == 403
    member.refresh_from_db()
    assert member.membership.role == Role.USER
    assert not (member.is_staff or member.is_superuser)


@pytest.mark.parametrize(
    ("actor", "tenant"),
    [("east_admin", "west"), ("east_admin", "root"), ("west_admin", "east_sub")],
)
def test_a_domain_admin_cannot_see_or_delete_a_user_outside_the_subtree(world, actor, tenant):
    member = world[f"member:{tenant}"]
    client = world.clients[actor]

    assert client.get(f"{API}users/{member.pk}/").status_code == 404
    assert (
        client.patch(f"{API}users/{member.pk}/", {"password": "x" * 12}, format="json").status_code
        == 404
    )
    assert client.delete(f"{API}users/{member.pk}/").status_code == 404
    assert get_user_model().objects.filter(pk=member.pk).exists()


@pytest.mark.parametrize(("actor", "tenant"), [("east_admin", "east"), ("east_admin", "east_sub")])
def test_a_domain_admin_cannot_move_a_user_out_of_the_subtree(world, actor, tenant):
    member = world[f"member:{tenant}"]

    response = world.clients[actor].patch(
        f"{API}users/{member.pk}/", {"account": world.id("account:west")}, format="json"
    )

    assert response.status_code == 400
    member.refresh_from_db()
    assert member.membership.account == world[f"account:{tenant}"]


# --- a root admin whose account lies inside a domain admin's subtree --------------------------


# A domain admin may not act on a root admin whose membership lies in their
# subtree: the target's role is checked, not only the new one (password reset,
# token issue, demotion and deletion would be account takeover).


@pytest.fixture
def east_root(world):
    """A root admin who happens to be a member of east's account."""
    return user_create(
        username="east-root",
        account=world["account:east"],
        role=Role.ROOT_ADMIN,
        password="old-password-1",
    )


def test_a_domain_admin_cannot_reset_a_root_admins_password(world, east_root):
    response = world.clients["east_admin"].patch(
        f"{API}users/{east_root.pk}/", {"password": "new-password-1"}, format="json"
    )

    east_root.refresh_from_db()
    assert east_root.check_password("old-password-1")
    assert response.status_code == 403


def test_a_domain_admin_cannot_issue_a_token_for_a_root_admin(world, east_root):
    response = world.clients["east_admin"].post(
        f"{API}tokens/", {"user": east_root.pk}, format="json"
    )

    assert not AuthToken.objects.filter(user=east_root).exists()
    assert response.status_code == 403


def test_a_domain_admin_cannot_delete_or_demote_a_root_admin(world, east_root):
    client = world.clients["east_admin"]

    demoted = client.patch(f"{API}users/{east_root.pk}/", {"role": Role.USER}, format="json")
    deleted = client.delete(f"{API}users/{east_root.pk}/")

    assert (demoted.status_code, deleted.status_code) == (403, 403)
    east_root.refresh_from_db()
    assert east_root.membership.role == Role.ROOT_ADMIN


def test_a_demoted_root_admin_is_no_longer_root(world, east_root):
    response = world.clients["root_admin"].patch(
        f"{API}users/{east_root.pk}/", {"role": Role.USER}, format="json"
    )
    assert response.status_code == 200
    demoted = client_for(east_root)

    listed = demoted.get(f"{API}webhooks/").json()["results"]

    assert [item["id"] for item in listed] == [world.id("hook:east")]


# --- tokens -----------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ACTORS)
def test_every_actor_issues_reads_and_revokes_their_own_tokens(world, actor):
    client = world.clients[actor]

    issued = client.post(f"{API}tokens/", {}, format="json")
    assert issued.status_code == 201
    token_id = issued.json()["id"]
    assert client.get(f"{API}tokens/{token_id}/").status_code == 200
    assert client.delete(f"{API}tokens/{token_id}/").status_code == 204
    assert not AuthToken.objects.filter(token_key=token_id).exists()
    # and the token it calls with still works
    assert client.get(f"{API}tokens/").status_code == 200


@pytest.mark.parametrize(
    ("actor", "owner", "expected"),
    [
        # users: only their own
        ("east_user", "member:east", 403),
        ("east_user", "member:west", 403),
        ("east_user", "actor:east_admin", 403),
        ("west_user", "member:west", 403),
        # admins: users in their subtree; anyone else does not exist (400 "does not
        # exist", as for any unseen id in a body, and as for an id that is not there)
        ("east_admin", "member:east", 201),
        ("east_admin", "member:east_sub", 201),
        ("east_admin", "actor:east_sub_user", 201),
        ("east_admin", "member:west", 400),
        ("east_admin", "member:root", 400),
        ("east_admin", "actor:root_admin", 400),
        ("west_admin", "member:east_sub", 400),
        ("root_admin", "member:west", 201),
    ],
)
def test_issuing_a_token_for_someone_else(world, actor, owner, expected):
    user = world[owner]
    before = AuthToken.objects.filter(user=user).count()

    response = world.clients[actor].post(f"{API}tokens/", {"user": user.pk}, format="json")

    assert response.status_code == expected, response.content
    made = AuthToken.objects.filter(user=user).count() - before
    assert made == (1 if expected == 201 else 0)


@pytest.mark.parametrize("actor", ["east_admin", "east_user"])
def test_issuing_a_token_for_an_unseen_user_is_like_for_a_missing_one(world, actor):
    client = world.clients[actor]

    unseen = client.post(f"{API}tokens/", {"user": world["member:west"].pk}, format="json")
    missing = client.post(f"{API}tokens/", {"user": 999999999}, format="json")

    assert unseen.status_code == missing.status_code
