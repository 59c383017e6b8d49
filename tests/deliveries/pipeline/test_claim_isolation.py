"""The claim isolates endpoints (deliveries/pipeline/claim.py): a webhook's
sending limit across claims, held webhooks' rows passed over even when they
are the oldest, the probe slot of an open circuit, and the release of a
message's own rows that could not be taken.

Runs on SQLite and on PostgreSQL (DATABASE_URL): the statement is raw SQL.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deliveries.models import Delivery, DeliveryStatus
from deliveries.pipeline.claim import deliveries_claim
from hooks.health import Circuit
from hooks.models import Webhook
from tests.factories import DeliveryFactory, EventFactory, WebhookFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen(settings):
    settings.WEBHOOK_MAX_IN_FLIGHT = 10
    settings.WEBHOOK_BATCH_SIZE = 50
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def due(webhook: Webhook, n: int = 1, *, age: float = 0, **kwargs) -> list[Delivery]:
    """n pending deliveries to `webhook`, due `age` seconds ago."""
    at = NOW - dt.timedelta(seconds=age)
    return [
        DeliveryFactory(webhook=webhook, event=EventFactory(), next_attempt_at=at, **kwargs)
        for _ in range(n)
    ]


def ids(deliveries) -> set:
    return {d.id for d in deliveries}


def sending_to(webhook: Webhook) -> int:
    return Delivery.objects.filter(webhook=webhook, status=DeliveryStatus.SENDING).count()


# --- the sending limit --------------------------------------------------------------------


def test_a_claim_takes_no_more_than_the_webhooks_limit():
    # Given a webhook that may have 3 in flight, and 5 of its deliveries in one message
    webhook = WebhookFactory(max_in_flight=3)
    rows = [due(webhook, age=age)[0] for age in (50, 10, 40, 20, 30)]

    # When the message is claimed
    _, claimed = deliveries_claim([d.id for d in rows])

    # Then 3 are taken, the longest due first
    assert ids(claimed) == {rows[0].id, rows[2].id, rows[4].id}


def test_the_limit_counts_what_other_claims_are_sending():
    webhook = WebhookFactory(max_in_flight=3)
    rows = due(webhook, 5)
    deliveries_claim([d.id for d in rows[:2]], room=0)

    _, claimed = deliveries_claim([d.id for d in rows[2:]], room=0)

    assert len(claimed) == 1 and sending_to(webhook) == 3
    # and a finished one frees its slot
    Delivery.objects.filter(id=rows[0].id).update(status=DeliveryStatus.SUCCEEDED)
    assert len(deliveries_claim([d.id for d in rows], room=0)[1]) == 1


def test_the_default_limit_is_the_setting(settings):
    settings.WEBHOOK_MAX_IN_FLIGHT = 2
    webhook = WebhookFactory()
    rows = due(webhook, 4)

    assert len(deliveries_claim([d.id for d in rows])[1]) == 2


def test_a_throttled_limit_is_below_the_webhooks_own():
    webhook = WebhookFactory(max_in_flight=8, throttle_limit=2)

    assert len(deliveries_claim([d.id for d in due(webhook, 5)])[1]) == 2


def test_each_webhook_has_its_own_limit():
    a, b = WebhookFactory(max_in_flight=1), WebhookFactory(max_in_flight=2)
    rows = due(a, 3) + due(b, 3)

    _, claimed = deliveries_claim([d.id for d in rows])

    assert (sending_to(a), sending_to(b)) == (1, 2)
    assert len(claimed) == 3


# --- the top-up passes over held webhooks -------------------------------------------------


@pytest.mark.parametrize(
    "held",
    [
        pytest.param({"enabled": False}, id="disabled"),
        pytest.param(
            {"circuit": Circuit.OPEN, "circuit_retry_at": NOW + dt.timedelta(seconds=30)},
            id="circuit-open",
        ),
        pytest.param({"throttled_until": NOW + dt.timedelta(seconds=20)}, id="throttled"),
    ],
)
def test_the_top_up_passes_over_held_webhooks_rows_though_they_are_the_oldest(held, settings):
    # Given a batch's worth of old rows of a held webhook, and two newer ones
    settings.WEBHOOK_BATCH_SIZE = 5
    backlog = due(WebhookFactory(**held), 10, age=600)
    healthy = due(WebhookFactory(), 2)

    # When a claim tops up its batch
    _, claimed = deliveries_claim([], room=5)

    # Then it takes the newer rows it may send, none of the held ones
    assert ids(claimed) == ids(healthy)
    assert Delivery.objects.filter(id__in=ids(backlog), status=DeliveryStatus.PENDING).count() == 10


def test_the_top_up_passes_over_a_webhook_at_its_limit_though_its_rows_are_the_oldest():
    full = WebhookFactory(max_in_flight=2)
    deliveries_claim([d.id for d in due(full, 2, age=900)], room=0)
    backlog = due(full, 20, age=600)
    healthy = due(WebhookFactory(), 3)

    _, claimed = deliveries_claim([], room=5)

    assert ids(claimed) == ids(healthy)
    assert sending_to(full) == 2 and not ids(claimed) & ids(backlog)


def test_one_endpoints_backlog_takes_its_limit_and_no_more_from_successive_claims():
    # Given one endpoint's big, old backlog beside another's newer rows
    big = WebhookFactory(max_in_flight=2)
    due(big, 30, age=600)
    other = due(WebhookFactory(), 3)

    # When claims top up one after another (as a send loop does)
    first = deliveries_claim([], room=5)[1]
    second = deliveries_claim([], room=5)[1]

    # Then the backlog never holds more than its limit, and the others are
    # taken by the very next claim
    assert sending_to(big) == 2
    assert {d.webhook_id for d in first} == {big.id}
    assert ids(second) == ids(other)


# --- the probe ----------------------------------------------------------------------------


def test_an_open_circuit_past_its_cool_down_gets_one_probe_at_a_time():
    # Given an open circuit whose cool-down ended a second ago, 5 deliveries held
    webhook = WebhookFactory(
        circuit=Circuit.OPEN, circuit_retry_at=NOW - dt.timedelta(seconds=1), max_in_flight=10
    )
    rows = due(webhook, 5)

    # When two messages for them are claimed
    _, probe = deliveries_claim([d.id for d in rows])
    _, more = deliveries_claim([d.id for d in rows], room=10)

    # Then one probe is in flight, and nothing beside it
    assert len(probe) == 1 and more == []
    assert sending_to(webhook) == 1


def test_an_open_circuit_before_its_cool_down_gets_nothing():
    webhook = WebhookFactory(circuit=Circuit.OPEN, circuit_retry_at=NOW + dt.timedelta(seconds=1))

    assert deliveries_claim([d.id for d in due(webhook, 3)], room=10)[1] == []


# --- releasing the message's own rows -----------------------------------------------------


def test_own_rows_left_unclaimed_are_released_for_the_sweeper():
    # Given a message for two deliveries to a webhook with one slot left
    webhook = WebhookFactory(max_in_flight=1)
    rows = due(webhook, 2, message_due_at=NOW)

    # When it is claimed
    _, claimed = deliveries_claim([d.id for d in rows], room=0)

    # Then the one left has no message in flight any more: the sweeper owns it
    (left,) = Delivery.objects.exclude(id=claimed[0].id)
    assert (left.status, left.message_due_at) == (DeliveryStatus.PENDING, None)


def test_own_rows_of_a_held_webhook_are_released():
    webhook = WebhookFactory(enabled=False)
    rows = due(webhook, 3, message_due_at=NOW)

    with CaptureQueriesContext(connection) as queries:
        assert deliveries_claim([d.id for d in rows])[1] == []

    assert set(Delivery.objects.values_list("message_due_at", flat=True)) == {None}
    # The release is part of the claim's statement: one round trip.
    assert len(queries) == 1


def test_only_pending_due_own_rows_are_released():
    # Given a message whose rows are: not due yet, sent by another claim, finished
    webhook = WebhookFactory()
    later = due(webhook, age=-60, message_due_at=NOW + dt.timedelta(seconds=60))[0]
    taken = due(webhook, message_due_at=NOW)[0]
    deliveries_claim([taken.id], room=0)
    Delivery.objects.filter(id=taken.id).update(message_due_at=NOW)
    done = due(webhook, status=DeliveryStatus.SUCCEEDED, message_due_at=NOW)[0]

    assert deliveries_claim([later.id, taken.id, done.id], room=0)[1] == []

    # Then none of them is touched: each still has whatever message it had
    assert dict(Delivery.objects.values_list("id", "message_due_at")) == {
        later.id: NOW + dt.timedelta(seconds=60),
        taken.id: NOW,
        done.id: NOW,
    }
