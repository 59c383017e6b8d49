"""Who acted: the actor an event carries, given over the API or defaulting to
the caller, and who may name someone else."""

from __future__ import annotations

import pytest

from deliveries.models import Event
from hooks.models import Role
from tests.api_client import client_for
from tests.conftest import BATCH, EVENTS
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ACTOR = {"id": "0000aaaa-aaaa-0000-0000-0000aaaa0000", "name": "alice@example.com"}


def publish(client, tenants, **fields):
    body = {"type": "VM.CREATE", "account": str(tenants["east_acct"].id), **fields}
    return client.post(EVENTS, body, format="json")


def test_the_actor_defaults_to_the_caller(tenants):
    user = UserFactory(username="root-producer", is_superuser=True, is_staff=True)

    response = publish(client_for(user), tenants)

    assert response.status_code == 202, response.content
    event = Event.objects.get(id=response.json()["id"])
    assert (event.actor_id, event.actor_name) == (str(user.pk), "root-producer")
    assert event.envelope()["actor"] == {"id": str(user.pk), "name": "root-producer"}


def test_an_admin_names_who_acted_and_it_is_in_the_envelope_and_the_api(admin, tenants):
    response = publish(admin, tenants, actor=ACTOR)

    assert response.status_code == 202, response.content
    shown = admin.get(f"{EVENTS}{response.json()['id']}/").json()
    assert shown["actor"] == ACTOR
    assert shown["envelope"]["actor"] == ACTOR
    assert list(shown["envelope"])[-2:] == ["actor", "data"]


def test_an_admin_may_say_no_one_acted(admin, tenants):
    response = publish(admin, tenants, actor=None)

    event = Event.objects.get(id=response.json()["id"])
    assert event.envelope()["actor"] is None


def test_a_domain_admin_names_who_acted_in_their_subtree(tenants):
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.DOMAIN_ADMIN)

    response = publish(client_for(membership.user), tenants, actor={"id": "u-7"})

    assert response.status_code == 202, response.content
    event = Event.objects.get(id=response.json()["id"])
    assert (event.actor_id, event.actor_name) == ("u-7", "")


def test_a_user_may_not_name_someone_else(tenants):
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    client = client_for(membership.user)

    for actor in (ACTOR, None, {"id": str(membership.user.pk)}):
        response = publish(client, tenants, actor=actor)

        assert response.status_code == 403, response.content
        assert "Users publish as themselves" in response.json()["detail"]
    assert not Event.objects.exists()


def test_a_user_may_name_themselves(tenants):
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    user = membership.user

    response = publish(client_for(user), tenants, actor={"id": str(user.pk), "name": user.username})

    assert response.status_code == 202, response.content


def test_a_batch_item_naming_someone_else_refuses_the_whole_batch(tenants):
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    item = {"type": "VM.CREATE", "account": str(tenants["east_acct"].id)}

    response = client_for(membership.user).post(
        BATCH, {"events": [item, {**item, "actor": ACTOR}]}, format="json"
    )

    assert response.status_code == 403
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("actor", "field"),
    [
        ({"id": "x" * 256}, "id"),
        ({"name": "a\u0000b"}, "name"),
        ({"id": 7.5, "name": ["list"]}, "name"),
    ],
)
def test_a_bad_actor_is_a_400_naming_the_member(admin, tenants, actor, field):
    response = publish(admin, tenants, actor=actor)

    assert response.status_code == 400, response.content
    assert field in response.json()["actor"]


def test_an_actor_that_is_not_an_object_is_a_400(admin, tenants):
    response = publish(admin, tenants, actor="alice")

    assert response.status_code == 400
    assert "actor" in response.json()
