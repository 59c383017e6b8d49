"""Tenant isolation over deliveries' endpoints: who may see, publish, delete,
redeliver and recover which events and deliveries.

The rules, the world every test starts from and its actors are in
tests/isolation.py; the hooks side is tests/hooks/api/test_isolation.py.
"""

from __future__ import annotations

import pytest

from deliveries.models import Delivery, Event
from hooks.models import Scope
from tests.api_client import (
    client_for,
)
from tests.conftest import (
    API,
)
from tests.factories import (
    DeliveryFactory,
    UserFactory,
    WebhookFactory,
)
from tests.isolation import (
    ACTORS,
    TENANTS,
    check_detail_route,
    check_filter,
    check_list,
    detail_cases,
    grid,
    list_cases,
)

pytestmark = [
    pytest.mark.django_db,
]


ENDPOINTS = ("events", "deliveries")


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


# --- filters naming another tenant's ids ------------------------------------------------------


FILTERS = [
    # (actor, query, exactly what is listed)
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
    # the same filters do work on the actor's own tenants
    ("west_user", "deliveries/?webhook={hook:west}", "delivery:west"),
    ("east_admin", "deliveries/?webhook={hook:east_sub}", "delivery:east_sub"),
    ("east_admin", "events/?account={account:east_sub}", "event:east_sub"),
    ("east_user", "deliveries/?event_type=VM.CREATE", "delivery:east"),
]


@pytest.mark.parametrize(
    ("actor", "query", "expected"),
    [pytest.param(*case, id=f"{case[0]}-{case[1]}") for case in FILTERS],
)
def test_filters_naming_another_tenants_ids_list_nothing_of_theirs(world, actor, query, expected):
    check_filter(world, actor, query, expected)


# --- bulk delete and recover ------------------------------------------------------------------


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
    url = f"{API}deliveries/bulk/?" + world.fill(query)

    response = world.clients[actor].delete(url)

    assert response.status_code == 200
    assert response.json() == {"deleted": len(deleted.split())}
    gone = {
        f"delivery:{t}"
        for t in TENANTS
        if not Delivery.objects.filter(pk=world.id(f"delivery:{t}")).exists()
    }
    assert gone == set(deleted.split())


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
def test_recovering_another_tenants_webhook_is_a_bad_request(world, actor, tenant, expected):
    body = {"webhook": world.id(f"hook:{tenant}"), "since": "2000-01-01T00:00:00Z", "dry_run": True}

    response = world.clients[actor].post(f"{API}deliveries/recover/", body, format="json")

    assert response.status_code == expected
    if expected == 400:
        assert list(response.json()) == ["webhook"]


# --- publishing events ------------------------------------------------------------------------


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

    response = world.clients[actor].post(f"{API}events/", body, format="json")

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

    response = world.clients[actor].post(f"{API}events/", body, format="json")

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

    response = world.clients[actor].post(f"{API}events/batch/", {"events": events}, format="json")

    assert response.status_code == expected, response.content
    assert Event.objects.filter(type="ISO.TEST").count() == (len(events) if expected == 202 else 0)


def test_a_login_without_a_membership_cannot_publish(world):
    WebhookFactory(account=world["account:root"], scope=Scope.GLOBAL)
    nobody = client_for(UserFactory(username="nobody"))

    response = nobody.post(f"{API}events/", {"type": "ISO.TEST"}, format="json")

    assert not Event.objects.filter(type="ISO.TEST").exists()
    assert response.status_code == 403


def test_a_user_publishes_only_for_their_own_account(world):
    body = {"type": "ISO.TEST", "account": None, "domain": world.id("domain:east"), "data": {}}

    response = world.clients["east_user"].post(f"{API}events/", body, format="json")

    assert not Event.objects.filter(type="ISO.TEST").exists()
    assert response.status_code in (400, 403)


# --- an event's nested deliveries -------------------------------------------------------------


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

    response = world.clients[actor].get(f"{API}events/{event.pk}/")

    assert response.status_code == 200
    names = {str(obj.pk): name for name, obj in shared_event.items() if name != "event"}
    shown = sorted(names[item["id"]] for item in response.json()["deliveries"])
    assert shown == sorted(expected.split())
    # the delivery list agrees
    listed = world.clients[actor].get(f"{API}deliveries/?event={event.pk}").json()["results"]
    assert sorted(names[item["id"]] for item in listed) == sorted(expected.split())
