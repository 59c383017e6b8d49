"""Issue 10, item 1: any bytes a receiver answers are stored, and one attempt
the database refuses never sinks the recording of the others."""

from __future__ import annotations

import base64
import gzip
import logging

import pytest
from django.db import connection
from django.utils import timezone

from deliveries.http import OutgoingRequest, Sender, SendResult
from deliveries.models import DeliveryAttempt, DeliveryStatus
from deliveries.pipeline.claim import deliveries_claim
from deliveries.pipeline.outcome import decide
from deliveries.pipeline.record import RESPONSE_NOT_STORED, attempt_build, outcomes_record
from deliveries.serializers import AttemptSerializer
from tests.factories import DeliveryFactory

GZIPPED = gzip.compress(b'{"ok": true}\n' * 20)  # holds 0x00 bytes
assert b"\x00" in GZIPPED


def gzip_responder(body: bytes = GZIPPED):
    return lambda received: (
        200,
        body,
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )


def test_a_gzip_answer_is_kept_as_sent_not_inflated(receivers):
    # Given a receiver answering gzip it was not asked for, and a bomb of it
    small = receivers(responder=gzip_responder())
    bomb = receivers(responder=gzip_responder(gzip.compress(b"\x00" * 1_000_000)))
    sender = Sender(allow_private=True, body_limit=100, user_agent="test")

    def send(url) -> SendResult:
        return sender.send(OutgoingRequest(url=url, headers=[], body=b"{}", timeout=5))

    # Then libcurl hands over the bytes on the wire, and stops at the cap of them
    assert send(small.url).body == GZIPPED[:100]
    bombed = send(bomb.url)
    assert bombed.ok and bombed.body_truncated and len(bombed.body) == 100
    assert bombed.body.startswith(b"\x1f\x8b")  # still gzip: nothing was inflated


@pytest.mark.django_db
def test_the_api_shows_binary_bodies_escaped_and_exact():
    attempt = DeliveryAttempt(
        response_body=GZIPPED, response_headers={"content-type": "application/octet-stream"}
    )
    data = AttemptSerializer(attempt).data
    assert data["response_body"].startswith("\\x1f\\x8b")
    assert base64.b64decode(data["response_body_base64"]) == GZIPPED
    assert data["response_content_type"] == "application/octet-stream"
    text = AttemptSerializer(DeliveryAttempt(response_body="héllo".encode())).data
    assert text["response_body"] == "héllo"


def claimed_results(count: int, bodies: dict[int, SendResult]):
    now = timezone.now()
    deliveries = DeliveryFactory.create_batch(count, next_attempt_at=now)
    token, claimed = deliveries_claim([d.id for d in deliveries])
    order = [d.id for d in deliveries]
    claimed.sort(key=lambda d: order.index(d.id))
    results = []
    for index, delivery in enumerate(claimed):
        result = bodies.get(index, SendResult(status_code=200, body=b"ok"))
        attempt = attempt_build(delivery, "http://example.com/", [], result, now)
        results.append((delivery, attempt, decide(delivery, result, now=now)))
    return token, results


@pytest.mark.django_db(transaction=True)
def test_a_binary_body_is_stored_byte_for_byte_beside_the_others():
    token, results = claimed_results(3, {1: SendResult(status_code=200, body=GZIPPED)})

    assert outcomes_record(token, results) == 3

    assert sorted(bytes(a.response_body) for a in DeliveryAttempt.objects.all()) == sorted(
        [b"ok", GZIPPED, b"ok"]
    )
    for delivery, _, _ in results:
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_an_attempt_the_database_refuses_is_kept_without_its_response(caplog):
    # Given a batch where one row holds what the database refuses: on
    # PostgreSQL a header jsonb cannot hold (past attempt_build's cleaning);
    # everywhere, a row no column can hold (a negative attempt number)
    token, results = claimed_results(4, {})
    results[1][1].response_headers = {"x-evil": "\x00"}
    results[2][1].number = -1

    with caplog.at_level(logging.WARNING, logger="deliveries.pipeline.record"):
        updated = outcomes_record(token, results)

    # Then every delivery's outcome is written, and every storable attempt
    assert updated == 4
    for delivery, _, _ in results:
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SUCCEEDED
    stored = {a.delivery_id: a for a in DeliveryAttempt.objects.all()}
    assert set(stored) == {results[i][0].id for i in (0, 1, 3)}
    assert "not recorded" in caplog.text  # the unstorable one, said once
    if connection.vendor == "postgresql":
        refused = stored[results[1][0].id]
        assert refused.error_class == RESPONSE_NOT_STORED
        assert "response not stored" in refused.error_message
        assert refused.response_status == 200 and refused.response_headers == {}
