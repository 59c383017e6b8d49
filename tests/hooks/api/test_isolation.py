"""Tenant isolation: who may see and change what over the REST API (/api/v1/).

The rules, from the issue:
- A user sees the webhooks, events and deliveries of their account; a domain
  admin those of their subtree; a root admin (staff/superuser) all. Another
  tenant's object answers 404, never 403, for every verb, including the
  redeliver, test and rotate-secret actions.
- Creating a webhook: a user only local scope, for their own account; a domain
  admin local or domain scope within their subtree; only a root admin global.
  Updating cannot escalate beyond the same rules. A scope the role may not have
  is a 403; a related account or domain the caller cannot see is a 400 (the
  id "does not exist").
- Domains, accounts, users and API tokens are managed by root admins, and by
  domain admins inside their subtree. Users get 403 on domains, accounts and
  users; they list, issue and revoke only their own tokens.

The expectations below are written out by hand from those rules, not computed
from hooks.permissions. The world every test starts from:

    ROOT (root_acct) ─┬─ east (east_acct) ── east-sub (east_sub_acct)
                      └─ west (west_acct)

In each of the four tenants (root, east, east_sub, west): a local webhook, an
event, a delivery of that event to that webhook, a spare subdomain, a spare
account, a plain member (user) and the member's API token. The actors:

    root_admin     root admin, member of root_acct
    east_admin     domain admin of east (member of east_acct)
    east_user      user of east_acct
    east_sub_user  user of east_sub_acct
    west_admin     domain admin of west (member of west_acct)
    west_user      user of west_acct

Webhooks point at http://127.0.0.1:9/: tests refuse private destinations, so
a redelivery or test send to a visible webhook fails at once, without network,
and the API still answers 200 with the failure in the body.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from knox.models import AuthToken
from rest_framework.test import APIClient

from deliveries.models import Delivery, Event
from hooks.models import Role, Scope, Webhook
from hooks.services import token_issue, user_create
from tests.api_client import client_for
from tests.factories import (
    AccountFactory,
    DeliveryFactory,
    DomainFactory,
    EventFactory,
    UserFactory,
    WebhookFactory,
)

pytestmark = [
    pytest.mark.django_db,
]

API = "/api/v1"
PUBLIC_URL = "https://example.com/hook"

TENANTS = ("root", "east", "east_sub", "west")
ACTORS = ("root_admin", "east_admin", "east_user", "east_sub_user", "west_admin", "west_user")

# Where each actor lives, and with which role.
ACTOR_HOMES = {
    "root_admin": ("root", Role.ROOT_ADMIN),
    "east_admin": ("east", Role.DOMAIN_ADMIN),
    "east_user": ("east", Role.USER),
    "east_sub_user": ("east_sub", Role.USER),
    "west_admin": ("west", Role.DOMAIN_ADMIN),
    "west_user": ("west", Role.USER),
}


def grid(text: str) -> dict[tuple[str, str], str]:
    """A table of actor rows and tenant columns, as {(actor, tenant): cell}."""
    header, *rows = (line.split() for line in text.strip().splitlines())
    assert tuple(header) == TENANTS, header
    table = {
        (row[0], tenant): cell for row in rows for tenant, cell in zip(header, row[1:], strict=True)
    }
    assert {actor for actor, _ in table} == set(ACTORS)
    return table


# --- the expectation tables --------------------------------------------------------------------
#
# A cell says what an actor gets for an object of a tenant:
#   ok   the verb works (its own success status, in DETAIL_VERBS)
#   404  another tenant's object: it does not exist for this actor
#   403  the actor's role may not use this endpoint at all

# Webhooks, events and deliveries: the account's, the subtree's, or everyone's.
TENANT_DATA = grid("""
                 root   east   east_sub   west
root_admin       ok     ok     ok         ok
east_admin       404    ok     ok         404
east_user        404    ok     404        404
east_sub_user    404    404    ok         404
west_admin       404    404    404        ok
west_user        404    404    404        ok
""")

# Domains, accounts and users: admins within their subtree; users never.
TENANT_ADMIN = grid("""
                 root   east   east_sub   west
root_admin       ok     ok     ok         ok
east_admin       404    ok     ok         404
east_user        403    403    403        403
east_sub_user    403    403    403        403
west_admin       404    404    404        ok
west_user        403    403    403        403
""")

# API tokens (the tenant's member's): admins within their subtree; a user
# only their own, so no member's token is theirs.
MEMBER_TOKENS = grid("""
                 root   east   east_sub   west
root_admin       ok     ok     ok         ok
east_admin       404    ok     ok         404
east_user        404    404    404        404
east_sub_user    404    404    404        404
west_admin       404    404    404        ok
west_user        404    404    404        404
""")

# Per endpoint: the table, the tenant object acted on, and each verb's
# success status. "POST x" is the detail action x/.
DETAIL_VERBS: dict[str, tuple[dict, str, dict[str, int]]] = {
    "webhooks": (
        TENANT_DATA,
        "hook",
        {
            "GET": 200,
            "PUT": 200,
            "PATCH": 200,
            "DELETE": 204,
            "POST test": 200,
            "POST rotate-secret": 200,
        },
    ),
    "events": (TENANT_DATA, "event", {"GET": 200}),
    "deliveries": (TENANT_DATA, "delivery", {"GET": 200, "DELETE": 204, "POST redeliver": 200}),
    "domains": (TENANT_ADMIN, "subdomain", {"GET": 200, "PATCH": 200, "DELETE": 204}),
    "accounts": (TENANT_ADMIN, "spare_account", {"GET": 200, "PATCH": 200, "DELETE": 204}),
    "users": (TENANT_ADMIN, "member", {"GET": 200, "PATCH": 200, "DELETE": 204}),
    "tokens": (MEMBER_TOKENS, "member_token", {"GET": 200, "DELETE": 204}),
}

WRITE_BODIES = {
    "webhooks": {"name": "renamed", "payload_url": "https://example.com/renamed"},
    "domains": {"name": "renamed"},
    "accounts": {"name": "renamed"},
    "users": {"username": "renamed"},
}

# Exactly what each actor's list shows (an int: the status instead of a list).
# Names: hook:<tenant>, event:, delivery:, domain: (the tenant's own domain),
# subdomain: (its spare child), account: (the tenant's account),
# spare_account:, member: (a plain user), member_token:, actor:<actor>,
# actor_token:<actor> (the token the actor calls the API with).
LISTS: dict[str, dict[str, str | int]] = {
    "webhooks": {
        "root_admin": "hook:root hook:east hook:east_sub hook:west",
        "east_admin": "hook:east hook:east_sub",
        "east_user": "hook:east",
        "east_sub_user": "hook:east_sub",
        "west_admin": "hook:west",
        "west_user": "hook:west",
    },
    "events": {
        "root_admin": "event:root event:east event:east_sub event:west",
        "east_admin": "event:east event:east_sub",
        "east_user": "event:east",
        "east_sub_user": "event:east_sub",
        "west_admin": "event:west",
        "west_user": "event:west",
    },
    "deliveries": {
        "root_admin": "delivery:root delivery:east delivery:east_sub delivery:west",
        "east_admin": "delivery:east delivery:east_sub",
        "east_user": "delivery:east",
        "east_sub_user": "delivery:east_sub",
        "west_admin": "delivery:west",
        "west_user": "delivery:west",
    },
    "domains": {
        "root_admin": "domain:root domain:east domain:east_sub domain:west "
        "subdomain:root subdomain:east subdomain:east_sub subdomain:west",
        "east_admin": "domain:east domain:east_sub subdomain:east subdomain:east_sub",
        "east_user": 403,
        "east_sub_user": 403,
        "west_admin": "domain:west subdomain:west",
        "west_user": 403,
    },
    "accounts": {
        "root_admin": "account:root account:east account:east_sub account:west "
        "spare_account:root spare_account:east spare_account:east_sub spare_account:west",
        "east_admin": "account:east account:east_sub spare_account:east spare_account:east_sub",
        "east_user": 403,
        "east_sub_user": 403,
        "west_admin": "account:west spare_account:west",
        "west_user": 403,
    },
    "users": {
        "root_admin": "actor:root_admin actor:east_admin actor:east_user actor:east_sub_user "
        "actor:west_admin actor:west_user member:root member:east member:east_sub member:west",
        "east_admin": "actor:east_admin actor:east_user actor:east_sub_user "
        "member:east member:east_sub",
        "east_user": 403,
        "east_sub_user": 403,
        "west_admin": "actor:west_admin actor:west_user member:west",
        "west_user": 403,
    },
    "tokens": {
        "root_admin": "actor_token:root_admin actor_token:east_admin actor_token:east_user "
        "actor_token:east_sub_user actor_token:west_admin actor_token:west_user "
        "member_token:root member_token:east member_token:east_sub member_token:west",
        "east_admin": "actor_token:east_admin actor_token:east_user actor_token:east_sub_user "
        "member_token:east member_token:east_sub",
        "east_user": "actor_token:east_user",
        "east_sub_user": "actor_token:east_sub_user",
        "west_admin": "actor_token:west_admin actor_token:west_user member_token:west",
        "west_user": "actor_token:west_user",
    },
}

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

# Publishing an event for a tenant's account: 202 stored, 400 the account does not exist.
PUBLISH = grid("""
                 root   east   east_sub   west
root_admin       202    202    202        202
east_admin       400    202    202        400
east_user        400    202    400        400
east_sub_user    400    400    202        400
west_admin       400    400    400        202
west_user        400    400    400        202
""")


# --- the world ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    model: type
    pk: Any
    api_id: str  # the id as the API writes it


@dataclass
class World:
    """The stored objects by name, and a logged-in API client per actor."""

    refs: dict[str, Ref]
    clients: dict[str, APIClient]
    _loaded: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        """The object, read afresh in this test."""
        if name not in self._loaded:
            ref = self.refs[name]
            self._loaded[name] = ref.model.objects.get(pk=ref.pk)
        return self._loaded[name]

    def id(self, name: str) -> str:
        return self.refs[name].api_id

    def name_of(self, api_id: object) -> str:
        """The name of the object an API answer's id is (for readable failures)."""
        names = [name for name, ref in self.refs.items() if ref.api_id == str(api_id)]
        return names[0] if len(names) == 1 else f"<unknown {api_id}>"

    def fill(self, text: str) -> str:
        """`text` with each {name} replaced by that object's id."""
        return re.sub(r"\{([a-z_]+:[a-z_]+)\}", lambda match: self.id(match[1]), text)


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def build_world() -> tuple[dict[str, Ref], dict[str, str]]:
    """Store the tenants, their objects and the actors: (refs by name, API key by actor)."""
    root = DomainFactory(name="ROOT", parent=None)
    east = DomainFactory(name="east", parent=root)
    domains = {
        "root": root,
        "east": east,
        "east_sub": DomainFactory(name="east-sub", parent=east),
        "west": DomainFactory(name="west", parent=root),
    }
    objects: dict[str, Any] = {}
    for tenant in TENANTS:
        domain = domains[tenant]
        account = AccountFactory(domain=domain, name=f"{tenant}-acct")
        hook = WebhookFactory(name=f"{tenant}-hook", account=account)
        event = EventFactory(account=account)
        member = user_create(username=f"{tenant}-member", account=account, password=None)
        objects |= {
            f"domain:{tenant}": domain,
            f"account:{tenant}": account,
            f"hook:{tenant}": hook,
            f"event:{tenant}": event,
            f"delivery:{tenant}": DeliveryFactory(event=event, webhook=hook),
            f"subdomain:{tenant}": DomainFactory(name=f"{tenant}-spare", parent=domain),
            f"spare_account:{tenant}": AccountFactory(name=f"{tenant}-spare", domain=domain),
            f"member:{tenant}": member,
            f"member_token:{tenant}": token_issue(user=member)[0],
        }
    keys = {}
    for actor, (tenant, role) in ACTOR_HOMES.items():
        user = user_create(
            username=actor, account=objects[f"account:{tenant}"], role=role, password=None
        )
        token, keys[actor] = token_issue(user=user)
        objects |= {f"actor:{actor}": user, f"actor_token:{actor}": token}
    refs = {
        name: Ref(type(obj), obj.pk, obj.token_key if isinstance(obj, AuthToken) else str(obj.pk))
        for name, obj in objects.items()
    }
    return refs, keys


@pytest.fixture(scope="module")
def world_rows(django_db_setup, django_db_blocker):
    """The world, stored once for this module inside a transaction that is rolled
    back when the module is done. Each test runs in a savepoint within it (the
    `db` fixture), as with Django's TestCase.setUpTestData: what a test changes
    is undone before the next one, and nothing outlives the module."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            rows = build_world()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    try:
        yield rows
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def world(world_rows, db) -> World:
    refs, keys = world_rows
    return World(refs=refs, clients={actor: client_with(key) for actor, key in keys.items()})


def snapshot(obj) -> dict | None:
    """An object's row as stored now (None: deleted)."""
    model = type(obj)
    fresh = model.objects.filter(pk=obj.pk).first()
    if fresh is None:
        return None
    return {f.attname: getattr(fresh, f.attname) for f in model._meta.concrete_fields}


MISSING_IDS = {
    "users": "999999999",
    "tokens": "nosuchtoken0000",
}


def request(client: APIClient, endpoint: str, verb: str, object_id: str):
    url = f"{API}/{endpoint}/{object_id}/"
    if verb == "GET":
        return client.get(url)
    if verb == "DELETE":
        return client.delete(url)
    if verb in ("PUT", "PATCH"):
        return getattr(client, verb.lower())(url, WRITE_BODIES[endpoint], format="json")
    action = verb.removeprefix("POST ")
    return client.post(f"{url}{action}/", {}, format="json")


# --- detail routes: actor x endpoint x verb x tenant -------------------------------------------


def detail_cases():
    for endpoint, (table, kind, verbs) in DETAIL_VERBS.items():
        for verb, ok_status in verbs.items():
            for actor in ACTORS:
                for tenant in TENANTS:
                    cell = table[actor, tenant]
                    expected = ok_status if cell == "ok" else int(cell)
                    name = f"{kind}:{tenant}"
                    verb_id = verb.replace("POST ", "POST-")
                    yield pytest.param(
                        actor, endpoint, verb, name, expected, id=f"{actor}-{verb_id}-{name}"
                    )


@pytest.mark.parametrize(("actor", "endpoint", "verb", "target", "expected"), list(detail_cases()))
def test_detail_routes(world, actor, endpoint, verb, target, expected):
    obj = world[target]
    before = snapshot(obj)

    response = request(world.clients[actor], endpoint, verb, world.id(target))

    assert response.status_code == expected, response.content
    after = snapshot(obj)
    if expected in (403, 404):
        # refused: nothing changed
        assert after == before
    if expected == 404:
        # and indistinguishable from an id that does not exist at all
        missing_id = MISSING_IDS.get(endpoint, str(uuid.uuid4()))
        missing = request(world.clients[actor], endpoint, verb, missing_id)
        assert (missing.status_code, missing.json()) == (404, response.json())
    if expected < 300:
        check_success(world, endpoint, verb, target, response, before, after)


def check_success(world, endpoint, verb, target, response, before, after):
    if verb == "DELETE":
        assert after is None
        return
    assert after is not None
    body = response.json()
    if verb == "GET":
        assert str(body["id"]) == world.id(target)
        assert after == before
    elif verb in ("PUT", "PATCH"):
        changed = WRITE_BODIES[endpoint]
        assert {key: after[key] for key in changed} == changed
    elif verb == "POST rotate-secret":
        assert after["secret"] == body["secret"] != before["secret"]
    elif verb == "POST test":
        assert body["ok"] is False
        assert body["error"].startswith("DestinationRefused")
    elif verb == "POST redeliver":
        assert body["delivery"]["id"] == world.id(target)
        assert body["attempt"]["error_class"] == "DestinationRefused"
        assert after["attempts"] == before["attempts"] + 1
    else:  # pragma: no cover
        raise AssertionError(verb)


# --- lists -------------------------------------------------------------------------------------


def list_cases():
    for endpoint, by_actor in LISTS.items():
        for actor in ACTORS:
            yield pytest.param(actor, endpoint, by_actor[actor], id=f"{actor}-list-{endpoint}")


@pytest.mark.parametrize(("actor", "endpoint", "expected"), list(list_cases()))
def test_lists_show_exactly_what_the_actor_sees(world, actor, endpoint, expected):
    response = world.clients[actor].get(f"{API}/{endpoint}/?limit=500")

    if isinstance(expected, int):
        assert response.status_code == expected
        return
    assert response.status_code == 200
    body = response.json()
    listed = sorted(world.name_of(item["id"]) for item in body["results"])
    assert listed == sorted(expected.split())
    assert body["count"] == len(listed)


def test_a_staff_login_without_a_membership_is_a_root_admin(world):
    staff = client_for(UserFactory(username="staff", is_staff=True))

    listed = staff.get(f"{API}/webhooks/").json()["results"]

    assert {item["id"] for item in listed} == {world.id(f"hook:{t}") for t in TENANTS}


def test_a_login_without_a_membership_sees_nothing(world):
    nobody = client_for(UserFactory(username="nobody"))

    for endpoint in ("webhooks", "events", "deliveries"):
        assert nobody.get(f"{API}/{endpoint}/").json()["results"] == []
    for endpoint in ("domains", "accounts", "users"):
        assert nobody.get(f"{API}/{endpoint}/").status_code == 403
    assert nobody.get(f"{API}/webhooks/{world.id('hook:root')}/").status_code == 404


# --- filters naming another tenant's ids -------------------------------------------------------

FILTERS = [
    # (actor, query, exactly what is listed)
    ("east_user", "webhooks/?account={account:west}", ""),
    ("east_user", "webhooks/?domain={domain:west}", ""),
    ("east_user", "webhooks/?account={account:east_sub}", ""),
    ("east_user", "webhooks/?search=west", ""),
    ("east_admin", "webhooks/?account={account:root}", ""),
    ("east_admin", "webhooks/?domain={domain:west}", ""),
    ("east_user", "events/?account={account:west}", ""),
    ("east_user", "events/?domain={domain:east_sub}", ""),
    ("east_admin", "events/?account={account:root}", ""),
    ("west_admin", "events/?domain={domain:east}", ""),
    ("east_user", "deliveries/?webhook={hook:west}", ""),
    ("east_user", "deliveries/?event={event:west}", ""),
    ("east_sub_user", "deliveries/?webhook={hook:east}", ""),
    ("east_user", "deliveries/?webhook={hook:east_sub}", ""),
    ("west_admin", "deliveries/?webhook={hook:east_sub}", ""),
    ("east_admin", "deliveries/?webhook={hook:root}", ""),
    ("east_admin", "accounts/?domain={domain:west}", ""),
    ("east_admin", "domains/?parent={domain:west}", ""),
    ("west_admin", "domains/?parent={domain:east}", ""),
    # the same filters do work on the actor's own tenants
    ("west_user", "deliveries/?webhook={hook:west}", "delivery:west"),
    ("east_admin", "deliveries/?webhook={hook:east_sub}", "delivery:east_sub"),
    ("east_admin", "events/?account={account:east_sub}", "event:east_sub"),
    ("east_admin", "domains/?parent={domain:east}", "domain:east_sub subdomain:east"),
    ("root_admin", "webhooks/?account={account:west}", "hook:west"),
    ("east_user", "deliveries/?event_type=VM.CREATE", "delivery:east"),
]


@pytest.mark.parametrize(
    ("actor", "query", "expected"),
    [pytest.param(*case, id=f"{case[0]}-{case[1]}") for case in FILTERS],
)
def test_filters_naming_another_tenants_ids_list_nothing_of_theirs(world, actor, query, expected):
    url = f"{API}/" + world.fill(query)

    response = world.clients[actor].get(url)

    assert response.status_code == 200
    listed = sorted(world.name_of(item["id"]) for item in response.json()["results"])
    assert listed == sorted(expected.split())


BULK_DELETES = [
    # (actor, query, the deliveries deleted)
    ("east_user", "webhook={hook:west}", ""),
    ("east_user", "event={event:root}", ""),
    ("east_user", "status=pending", "delivery:east"),
    ("east_sub_user", "status=pending", "delivery:east_sub"),
    ("east_admin", "webhook={hook:west}", ""),
    ("east_admin", "status=pending", "delivery:east delivery:east_sub"),
    ("west_admin", "event={event:east}", ""),
    ("west_admin", "status=pending", "delivery:west"),
    ("root_admin", "status=pending", "delivery:root delivery:east delivery:east_sub delivery:west"),
]


@pytest.mark.parametrize(
    ("actor", "query", "deleted"),
    [pytest.param(*case, id=f"{case[0]}-bulk-{case[1]}") for case in BULK_DELETES],
)
def test_bulk_delete_touches_only_the_actors_deliveries(world, actor, query, deleted):
    url = f"{API}/deliveries/bulk/?" + world.fill(query)

    response = world.clients[actor].delete(url)

    assert response.status_code == 200
    assert response.json() == {"deleted": len(deleted.split())}
    gone = {
        f"delivery:{t}"
        for t in TENANTS
        if not Delivery.objects.filter(pk=world.id(f"delivery:{t}")).exists()
    }
    assert gone == set(deleted.split())


@pytest.fixture
def no_throttle_history():
    """Recover is rate-limited per user in the cache; start each test afresh."""
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize(
    ("actor", "tenant", "expected"),
    [
        ("east_user", "east", 200),
        ("east_user", "west", 400),
        ("east_user", "east_sub", 400),
        ("east_admin", "east_sub", 200),
        ("east_admin", "root", 400),
        ("west_admin", "east", 400),
        ("root_admin", "west", 200),
    ],
)
def test_recovering_another_tenants_webhook_is_a_bad_request(
    world, no_throttle_history, actor, tenant, expected
):
    body = {"webhook": world.id(f"hook:{tenant}"), "since": "2000-01-01T00:00:00Z", "dry_run": True}

    response = world.clients[actor].post(f"{API}/deliveries/recover/", body, format="json")

    assert response.status_code == expected
    if expected == 400:
        assert list(response.json()) == ["webhook"]


# --- creating and updating webhooks: scope rules -----------------------------------------------


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

    response = world.clients[actor].post(f"{API}/webhooks/", body, format="json")

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

    response = world.clients[actor].post(f"{API}/webhooks/", body, format="json")

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
        f"{API}/webhooks/{target.pk}/", body, format="json"
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
        f"{API}/webhooks/{target.pk}/", {field: other}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert snapshot(target) == before


# --- publishing events -------------------------------------------------------------------------


def publish_cases():
    for actor in ACTORS:
        for tenant in TENANTS:
            expected = int(PUBLISH[actor, tenant])
            yield pytest.param(actor, tenant, expected, id=f"{actor}-publish-for-{tenant}")


@pytest.mark.parametrize(("actor", "tenant", "expected"), list(publish_cases()))
def test_publishing_for_an_account_the_actor_cannot_see_is_a_bad_request(
    world, actor, tenant, expected
):
    body = {"type": "ISO.TEST", "account": world.id(f"account:{tenant}"), "data": {}}

    response = world.clients[actor].post(f"{API}/events/", body, format="json")

    assert response.status_code == expected, response.content
    if expected == 202:
        assert Event.objects.get(type="ISO.TEST").account == world[f"account:{tenant}"]
        # the local webhook of that account got its delivery
        assert response.json()["deliveries"] == 1
    else:
        assert list(response.json()) == ["account"]
        assert not Event.objects.filter(type="ISO.TEST").exists()


@pytest.mark.parametrize(
    ("actor", "tenant", "expected"),
    [
        ("east_user", "west", 400),
        ("east_user", "east_sub", 400),
        ("east_admin", "root", 400),
        ("east_admin", "west", 400),
        ("west_admin", "east", 400),
        ("east_admin", "east_sub", 202),
        ("root_admin", "west", 202),
    ],
)
def test_publishing_for_a_domain_the_actor_cannot_see_is_a_bad_request(
    world, actor, tenant, expected
):
    body = {"type": "ISO.TEST", "domain": world.id(f"domain:{tenant}"), "data": {}}

    response = world.clients[actor].post(f"{API}/events/", body, format="json")

    assert response.status_code == expected, response.content
    assert Event.objects.filter(type="ISO.TEST").exists() is (expected == 202)


@pytest.mark.parametrize(
    ("actor", "tenants_", "expected"),
    [
        ("east_user", ("east", "west"), 400),
        ("east_admin", ("east_sub", "root"), 400),
        ("west_admin", ("west", "east"), 400),
        ("east_admin", ("east", "east_sub"), 202),
    ],
)
def test_a_batch_naming_another_tenants_account_publishes_nothing(world, actor, tenants_, expected):
    events = [{"type": "ISO.TEST", "account": world.id(f"account:{t}")} for t in tenants_]

    response = world.clients[actor].post(f"{API}/events/batch/", {"events": events}, format="json")

    assert response.status_code == expected, response.content
    assert Event.objects.filter(type="ISO.TEST").count() == (len(events) if expected == 202 else 0)


def test_a_login_without_a_membership_cannot_publish(world):
    WebhookFactory(account=world["account:root"], scope=Scope.GLOBAL)
    nobody = client_for(UserFactory(username="nobody"))

    response = nobody.post(f"{API}/events/", {"type": "ISO.TEST"}, format="json")

    assert not Event.objects.filter(type="ISO.TEST").exists()
    assert response.status_code == 403


def test_a_user_publishes_only_for_their_own_account(world):
    body = {"type": "ISO.TEST", "account": None, "domain": world.id("domain:east"), "data": {}}

    response = world.clients["east_user"].post(f"{API}/events/", body, format="json")

    assert not Event.objects.filter(type="ISO.TEST").exists()
    assert response.status_code in (400, 403)


# --- managing domains, accounts and users ------------------------------------------------------


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

    response = world.clients[actor].post(f"{API}/{endpoint}/", body, format="json")

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

    response = world.clients[actor].post(f"{API}/{endpoint}/", body, format="json")

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

    response = world.clients[actor].post(f"{API}/users/", body, format="json")

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
        f"{API}/users/{member.pk}/", {"role": Role.ROOT_ADMIN}, format="json"
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

    assert client.get(f"{API}/users/{member.pk}/").status_code == 404
    assert (
        client.patch(f"{API}/users/{member.pk}/", {"password": "x" * 12}, format="json").status_code
        == 404
    )
    assert client.delete(f"{API}/users/{member.pk}/").status_code == 404
    assert get_user_model().objects.filter(pk=member.pk).exists()


@pytest.mark.parametrize(("actor", "tenant"), [("east_admin", "east"), ("east_admin", "east_sub")])
def test_a_domain_admin_cannot_move_a_user_out_of_the_subtree(world, actor, tenant):
    member = world[f"member:{tenant}"]

    response = world.clients[actor].patch(
        f"{API}/users/{member.pk}/", {"account": world.id("account:west")}, format="json"
    )

    assert response.status_code == 400
    member.refresh_from_db()
    assert member.membership.account == world[f"account:{tenant}"]


# --- a root admin whose account lies inside a domain admin's subtree ---------------------------


@pytest.fixture
def east_root(world):
    """A root admin who happens to be a member of east's account."""
    return user_create(
        username="east-root",
        account=world["account:east"],
        role=Role.ROOT_ADMIN,
        password="old-password-1",
    )


BUG_ROOT_IN_SUBTREE = (
    "BUG: a domain admin may act on a root admin whose membership lies in their subtree "
    "(hooks/api.py UserViewSet.perform_update/destroy and TokenViewSet.create check only the "
    "*new* role, never the target's): account takeover / privilege escalation"
)


def test_a_domain_admin_cannot_reset_a_root_admins_password(world, east_root):
    response = world.clients["east_admin"].patch(
        f"{API}/users/{east_root.pk}/", {"password": "new-password-1"}, format="json"
    )

    east_root.refresh_from_db()
    assert east_root.check_password("old-password-1")
    assert response.status_code == 403


def test_a_domain_admin_cannot_issue_a_token_for_a_root_admin(world, east_root):
    response = world.clients["east_admin"].post(
        f"{API}/tokens/", {"user": east_root.pk}, format="json"
    )

    assert not AuthToken.objects.filter(user=east_root).exists()
    assert response.status_code == 403


def test_a_domain_admin_cannot_delete_or_demote_a_root_admin(world, east_root):
    client = world.clients["east_admin"]

    demoted = client.patch(f"{API}/users/{east_root.pk}/", {"role": Role.USER}, format="json")
    deleted = client.delete(f"{API}/users/{east_root.pk}/")

    assert (demoted.status_code, deleted.status_code) == (403, 403)
    east_root.refresh_from_db()
    assert east_root.membership.role == Role.ROOT_ADMIN


def test_a_demoted_root_admin_is_no_longer_root(world, east_root):
    response = world.clients["root_admin"].patch(
        f"{API}/users/{east_root.pk}/", {"role": Role.USER}, format="json"
    )
    assert response.status_code == 200
    demoted = client_for(east_root)

    listed = demoted.get(f"{API}/webhooks/").json()["results"]

    assert [item["id"] for item in listed] == [world.id("hook:east")]


# --- tokens ------------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ACTORS)
def test_every_actor_issues_reads_and_revokes_their_own_tokens(world, actor):
    client = world.clients[actor]

    issued = client.post(f"{API}/tokens/", {}, format="json")
    assert issued.status_code == 201
    token_id = issued.json()["id"]
    assert client.get(f"{API}/tokens/{token_id}/").status_code == 200
    assert client.delete(f"{API}/tokens/{token_id}/").status_code == 204
    assert not AuthToken.objects.filter(token_key=token_id).exists()
    # and the token it calls with still works
    assert client.get(f"{API}/tokens/").status_code == 200


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

    response = world.clients[actor].post(f"{API}/tokens/", {"user": user.pk}, format="json")

    assert response.status_code == expected, response.content
    made = AuthToken.objects.filter(user=user).count() - before
    assert made == (1 if expected == 201 else 0)


@pytest.mark.parametrize("actor", ["east_admin", "east_user"])
def test_issuing_a_token_for_an_unseen_user_is_like_for_a_missing_one(world, actor):
    client = world.clients[actor]

    unseen = client.post(f"{API}/tokens/", {"user": world["member:west"].pk}, format="json")
    missing = client.post(f"{API}/tokens/", {"user": 999999999}, format="json")

    assert unseen.status_code == missing.status_code


# --- an event's nested deliveries ---------------------------------------------------------------


@pytest.fixture
def shared_event(world):
    """An event of east-sub's account that also reached a root global webhook and
    east's domain-scoped webhook: three deliveries, of three owners."""
    event = world["event:east_sub"]
    root_global = WebhookFactory(account=world["account:root"], scope=Scope.GLOBAL)
    east_domain = WebhookFactory(account=world["account:east"], scope=Scope.DOMAIN)
    return {
        "event": event,
        "delivery:east_sub": world["delivery:east_sub"],
        "delivery:root_global": DeliveryFactory(event=event, webhook=root_global),
        "delivery:east_domain": DeliveryFactory(event=event, webhook=east_domain),
    }


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        pytest.param(
            "root_admin",
            "delivery:east_sub delivery:root_global delivery:east_domain",
            id="root_admin",
        ),
        pytest.param(
            "east_admin",
            "delivery:east_sub delivery:east_domain",
            id="east_admin",
        ),
        pytest.param(
            "east_sub_user",
            "delivery:east_sub",
            id="east_sub_user",
        ),
    ],
)
def test_an_events_detail_shows_only_the_deliveries_the_actor_sees(
    world, shared_event, actor, expected
):
    event = shared_event["event"]

    response = world.clients[actor].get(f"{API}/events/{event.pk}/")

    assert response.status_code == 200
    names = {str(obj.pk): name for name, obj in shared_event.items() if name != "event"}
    shown = sorted(names[item["id"]] for item in response.json()["deliveries"])
    assert shown == sorted(expected.split())
    # the delivery list agrees
    listed = world.clients[actor].get(f"{API}/deliveries/?event={event.pk}").json()["results"]
    assert sorted(names[item["id"]] for item in listed) == sorted(expected.split())
