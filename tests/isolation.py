"""Tenant isolation: who may see and change what over the REST API (/api/v1/).

The machinery of the isolation matrix: the world, its actors and the tables
shared by tests/hooks/api/test_isolation.py and tests/deliveries/api/test_isolation.py.

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
from hooks.permissions. The world every test starts from (tests.factories.tenant_tree):

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
from knox.models import AuthToken
from rest_framework.test import APIClient

from hooks.models import Role
from hooks.services import token_issue, user_create
from tests.conftest import API
from tests.factories import (
    AccountFactory,
    DeliveryFactory,
    DomainFactory,
    EventFactory,
    WebhookFactory,
    tenant_tree,
)

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


# --- the expectation tables -------------------------------------------------------------------


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


# --- the world --------------------------------------------------------------------------------


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


def build_world() -> tuple[dict[str, Ref], dict[str, str]]:
    """Store the tenants, their objects and the actors: (refs by name, API key by actor)."""
    tree = tenant_tree()
    objects: dict[str, Any] = {}
    for tenant in TENANTS:
        domain, account = tree[tenant], tree[f"{tenant}_acct"]
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
    url = f"{API}{endpoint}/{object_id}/"
    if verb == "GET":
        return client.get(url)
    if verb == "DELETE":
        return client.delete(url)
    if verb in ("PUT", "PATCH"):
        return getattr(client, verb.lower())(url, WRITE_BODIES[endpoint], format="json")
    action = verb.removeprefix("POST ")
    return client.post(f"{url}{action}/", {}, format="json")


# --- detail routes: actor x endpoint x verb x tenant ------------------------------------------


def detail_cases(*endpoints: str) -> list:
    """The cases of these endpoints: (actor, endpoint, verb, target, expected)."""
    return list(_detail_cases(endpoints))


def _detail_cases(endpoints):
    for endpoint in endpoints:
        table, kind, verbs = DETAIL_VERBS[endpoint]
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


def check_detail_route(world, actor, endpoint, verb, target, expected):
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


# --- lists and filters ------------------------------------------------------------------------


def list_cases(*endpoints: str) -> list:
    """The cases of these endpoints: (actor, endpoint, expected)."""
    return list(_list_cases(endpoints))


def _list_cases(endpoints):
    for endpoint in endpoints:
        by_actor = LISTS[endpoint]
        for actor in ACTORS:
            yield pytest.param(actor, endpoint, by_actor[actor], id=f"{actor}-list-{endpoint}")


def check_list(world, actor, endpoint, expected):
    response = world.clients[actor].get(f"{API}{endpoint}/?limit=500")

    if isinstance(expected, int):
        assert response.status_code == expected
        return
    assert response.status_code == 200
    body = response.json()
    listed = sorted(world.name_of(item["id"]) for item in body["results"])
    assert listed == sorted(expected.split())
    assert body["count"] == len(listed)


def check_filter(world, actor, query, expected):
    url = f"{API}" + world.fill(query)

    response = world.clients[actor].get(url)

    assert response.status_code == 200
    listed = sorted(world.name_of(item["id"]) for item in response.json()["results"])
    assert listed == sorted(expected.split())
