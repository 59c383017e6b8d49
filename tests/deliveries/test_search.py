"""Finding deliveries by words and by worker (deliveries/search.py), through
the API's ?search= and ?worker=: within the bounded window, 400s for
unreasonable input."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from deliveries.models import Delivery
from tests.conftest import DELIVERIES
from tests.factories import DeliveryAttemptFactory, DeliveryFactory, EventFactory, WebhookFactory

pytestmark = [pytest.mark.django_db]


def found(client, query: str) -> set[str]:
    response = client.get(f"{DELIVERIES}?{query}")
    assert response.status_code == 200, response.content
    return {d["id"] for d in response.json()["results"]}


@pytest.fixture
def three(tenants):
    acct = tenants["east_acct"]
    vm = DeliveryFactory(
        event=EventFactory(account=acct, type="VM.CREATE"),
        webhook=WebhookFactory(account=acct, payload_url="https://orders.example.com/hook"),
        last_error="HTTP 503",
    )
    net = DeliveryFactory(
        event=EventFactory(account=acct, type="NETWORK.DELETE"),
        webhook=WebhookFactory(account=acct, payload_url="https://billing.example.net/in"),
        last_error="Timeout: no answer within 10 s",
    )
    old = DeliveryFactory(
        event=EventFactory(account=acct, type="VM.CREATE"),
        webhook=vm.webhook,
    )
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=30))
    return {"vm": str(vm.id), "net": str(net.id), "old": str(old.id)}


def test_a_word_is_found_in_the_event_type_error_or_url(admin, three):
    assert found(admin, "search=vm.cre") == {three["vm"]}  # case-insensitive
    assert found(admin, "search=timeout") == {three["net"]}
    assert found(admin, "search=billing.example") == {three["net"]}
    assert found(admin, "search=example") == {three["vm"], three["net"]}
    # every word must be found
    assert found(admin, "search=example 503") == {three["vm"]}
    assert found(admin, "search=nothing-like-this") == set()


def test_the_search_looks_back_a_bounded_window_unless_told(admin, three, settings):
    settings.API_DELIVERY_SEARCH_DAYS = 7
    assert three["old"] not in found(admin, "search=VM.CREATE")

    since = (timezone.now() - dt.timedelta(days=60)).isoformat().replace("+00:00", "Z")
    assert three["old"] in found(admin, f"search=VM.CREATE&created_after={since}")


def test_worker_filter_by_process_or_host(admin, three):
    DeliveryAttemptFactory(delivery_id=three["vm"], worker="web-1:100")
    DeliveryAttemptFactory(delivery_id=three["net"], worker="web-1:200")
    DeliveryAttemptFactory(delivery_id=three["net"], worker="web-2:100", number=2)

    assert found(admin, "worker=web-1:100") == {three["vm"]}
    assert found(admin, "worker=web-1") == {three["vm"], three["net"]}
    assert found(admin, "worker=web-2") == {three["net"]}
    assert found(admin, "worker=web") == set()  # a host is matched whole


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("search=" + "+".join("abcdef"), "search"),  # six words
        ("search=" + "x" * 101, "search"),
        ("worker=" + "w" * 256, "worker"),
    ],
)
def test_unreasonable_searches_are_400s(admin, three, query, field):
    response = admin.get(f"{DELIVERIES}?{query}")

    assert response.status_code == 400
    assert field in response.json()
