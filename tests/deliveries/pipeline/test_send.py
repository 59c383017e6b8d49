"""deliveries_send alone, against a real receiver on 127.0.0.1 (no worker, no
Redis): one task goes on claiming while more due work is likely, so a
backlog or an endpoint that has just recovered is drained by the task that
found it, not left to later messages or the sweeper."""

import datetime as dt

import pytest
from django.utils import timezone

from deliveries import queue
from deliveries.models import Delivery, DeliveryStatus
from deliveries.pipeline.send import deliveries_send
from hooks.health import Circuit, Health
from tests.factories import DeliveryFactory, EventFactory, WebhookFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def nothing_queued(monkeypatch):
    """No Redis here: what would be queued is kept, and must be nothing."""
    queued = []
    monkeypatch.setattr(queue, "deliveries_enqueue", lambda ids, **kw: queued.append(ids))
    yield queued
    assert queued == []


def test_a_backlog_is_drained_by_the_task_that_finds_it(settings, allow_private, receivers):
    # given 120 due deliveries to 4 healthy webhooks, batches of 50
    settings.WEBHOOK_BATCH_SIZE = 50
    receiver = receivers()
    webhooks = [WebhookFactory(payload_url=f"{receiver.url}/{i}") for i in range(4)]
    now = timezone.now()
    rows = [
        DeliveryFactory(webhook=webhooks[i % 4], event=EventFactory(), next_attempt_at=now)
        for i in range(120)
    ]

    # when one message is handled
    claimed = deliveries_send([rows[0].id])

    # then the task claimed on past its first full batch, and everything arrived once
    assert claimed == 120
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}
    assert len(receiver.received) == 120
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 120


def test_a_probe_that_succeeds_drains_the_held_deliveries(settings, allow_private, receivers):
    # given a webhook whose circuit is open, its probe due, 30 deliveries held
    # behind it and a sending limit of 5
    receiver = receivers()
    now = timezone.now()
    webhook = WebhookFactory(
        payload_url=f"{receiver.url}/hook",
        max_in_flight=5,
        circuit=Circuit.OPEN,
        circuit_retry_at=now - dt.timedelta(seconds=1),
        circuit_cooldown=30,
        consecutive_failures=10,
    )
    held = [
        DeliveryFactory(
            webhook=webhook,
            event=EventFactory(),
            attempts=1,
            next_attempt_at=now - dt.timedelta(seconds=1),
        )
        for _ in range(30)
    ]

    # when one message names one of them
    claimed = deliveries_send([held[0].id])

    # then it went as the probe, closed the circuit, and the same task sent the
    # rest at the endpoint's limit: each once
    webhook.refresh_from_db()
    assert webhook.health == Health.HEALTHY
    assert claimed == 30
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}
    assert len(receiver.received) == 30


def test_a_batch_costs_the_same_statements_however_many_deliveries_it_holds(
    settings, allow_private, receivers
):
    """Everything request building, signing, judging, recording and the
    endpoints' health read of a delivery comes with the claim: a field left
    deferred, or a relation not cached, would cost a query per delivery."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from hooks.models import HeaderStyle, PayloadFormat

    settings.WEBHOOK_BATCH_SIZE = 50
    receiver = receivers(responder=lambda received: (200, b'{"code": 0}'))
    # given webhooks of every payload format, in both header styles, one
    # with an acknowledgement rule (which the receiver's answer meets)
    webhooks = [
        WebhookFactory(
            payload_url=f"{receiver.url}/{fmt}",
            payload_format=fmt,
            header_style=HeaderStyle.CLOUDSTACK if i % 2 else HeaderStyle.STANDARD,
            ack_field="" if i else "code",
            ack_value=0,
        )
        for i, fmt in enumerate(PayloadFormat.values)
    ]

    def send(n: int) -> int:
        now = timezone.now()
        rows = [
            DeliveryFactory(
                webhook=webhooks[i % len(webhooks)], event=EventFactory(), next_attempt_at=now
            )
            for i in range(n)
        ]
        with CaptureQueriesContext(connection) as queries:
            assert deliveries_send([d.id for d in rows]) == n
        return len(queries)

    # when a small batch and a batch four times bigger are sent (each once
    # first, so that every endpoint's last success is fresh and the health
    # update writes nothing for the second)
    send(len(webhooks))
    small = send(len(webhooks))
    send(4 * len(webhooks))
    big = send(4 * len(webhooks))

    # then both cost the same few statements: the claim (one UPDATE, the
    # events, the webhooks with their domains), the record (BEGIN, one UPDATE
    # per distinct outcome, the attempts, COMMIT), the refill that finds nothing
    assert small == big
    assert big <= 9
