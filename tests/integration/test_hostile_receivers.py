"""Issue 10, item 1 with real parts: a receiver answering binary (gzip, with
0x00 bytes) in the same batch as healthy ones, on the real database through a
real worker. Nothing is sent twice and every outcome is recorded."""

from __future__ import annotations

import gzip
import time

import pytest

from deliveries.models import DeliveryAttempt, DeliveryStatus, Event
from deliveries.publishing import event_publish
from tests.factories import WebhookFactory
from tests.live import wait_until

pytestmark = pytest.mark.integration

GZIPPED = gzip.compress(b'{"ok": true}\n' * 50)


def test_a_binary_answer_does_not_sink_its_batch(worker, receivers, tenants):
    # Given one hostile receiver and five healthy ones, all subscribed to one account
    acct = tenants["east_acct"]
    hostile = receivers(
        responder=lambda received: (
            200,
            GZIPPED,
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    )
    healthy = [receivers() for _ in range(5)]
    WebhookFactory(payload_url=f"{hostile.url}/h", account=acct)
    for r in healthy:
        WebhookFactory(payload_url=f"{r.url}/h", account=acct)

    # When one event goes to all six (one message, one batch)
    result = event_publish(type="VM.CREATE", data={"n": 1}, account=acct)
    assert result.delivery_count == 6

    # Then all six succeed, once each, and the binary body is stored as sent
    event = Event.objects.get()
    wait_until(
        lambda: not event.deliveries.exclude(status=DeliveryStatus.SUCCEEDED).exists(),
        timeout=15,
        message="every delivery to succeed",
    )
    time.sleep(1)  # long enough for a retry (0.3 s) to show up if one were made
    assert [len(r.received) for r in [hostile, *healthy]] == [1] * 6
    assert DeliveryAttempt.objects.count() == 6
    stored = DeliveryAttempt.objects.get(delivery__webhook__payload_url=f"{hostile.url}/h")
    assert bytes(stored.response_body) == GZIPPED
    assert stored.content_type == "application/json" and not stored.body_is_text
