"""Tencent Cloud's alarm callback, end to end: a real Celery worker, Redis, the
test database and a Tencent-style receiver on 127.0.0.1.

- The receiver acknowledges in its body ({"sessionId": ..., "retCode": 0}):
  a 200 without that is a failed attempt, retried, with the reason recorded;
  the right answer ends it. The session id it must echo is the delivery id,
  sent in X-Webhook-Session-Id on every attempt.
- Alarm repeats: a firing alarm is delivered again every repeat_every seconds
  (1 s here) until the incident's resolved event is published, at most
  repeat_max times; a repeat survives a worker restart and a lost message.
"""

from __future__ import annotations

import itertools
import json
import threading
import time

import pytest
import redis

from deliveries.models import Delivery, DeliveryStatus, Event
from deliveries.publishing import event_publish
from deliveries.receiver import Received
from deliveries.tasks import sweep
from tests.api_client import client_for
from tests.conftest import EVENTS
from tests.factories import UserFactory, WebhookFactory
from tests.live import wait_until

pytestmark = pytest.mark.integration

SESSION_HEADER = "x-webhook-session-id"
TENCENT_RULE = {"ack_field": "retCode", "ack_value": 0, "ack_session_field": "sessionId"}


def tencent_receiver(answers: list):
    """A responder answering 200 with each of `answers` in turn, then the
    right acknowledgement: each answer is a function of the session id we
    sent (or bytes, sent as they are)."""
    lock = threading.Lock()
    queue = list(answers)

    def right(session: str) -> bytes:
        return json.dumps({"sessionId": session, "retCode": 0}).encode()

    def respond(got: Received):
        with lock:
            answer = queue.pop(0) if queue else right
        session = got.headers.get(SESSION_HEADER, "")
        return 200, answer if isinstance(answer, bytes) else answer(session)

    return respond


def finished(delivery: Delivery) -> Delivery | None:
    delivery.refresh_from_db()
    return delivery if delivery.is_finished else None


# --- acknowledgement in the body ----------------------------------------------------------


def test_a_missing_acknowledgement_is_retried_and_the_right_one_ends_it(worker, receivers, tenants):
    # Given a Tencent-style receiver that first answers 200 "OK", then
    # 200 with retCode 1, then the right acknowledgement
    r = receivers(
        responder=tencent_receiver(
            [b"OK", lambda s: json.dumps({"sessionId": s, "retCode": 1}).encode()]
        )
    )
    acct = tenants["east_acct"]
    WebhookFactory(payload_url=f"{r.url}/tencent", account=acct, max_attempts=3, **TENCENT_RULE)

    # When an event is published
    event = event_publish(type="ALARM.CPU", data={"cpu": 99}, account=acct).event

    # Then the delivery takes three attempts and succeeds
    delivery = wait_until(lambda: finished(event.deliveries.get()), message="the delivery")
    assert delivery.status == DeliveryStatus.SUCCEEDED, delivery.last_error
    attempts = list(delivery.attempt_set.order_by("number"))
    assert [(a.response_status, a.error_class, a.error_message) for a in attempts] == [
        (200, "NoAcknowledgement", "no acknowledgement: the body is not JSON"),
        (200, "NoAcknowledgement", "no acknowledgement: retCode was 1, not 0"),
        (200, "", ""),
    ]
    # And every attempt carried the same session id: the delivery's id
    assert [x.headers[SESSION_HEADER] for x in r.wait_for(3)] == [str(delivery.id)] * 3
    assert {a.request_headers["X-Webhook-Session-Id"] for a in attempts} == {str(delivery.id)}


def test_a_wrong_session_echo_is_never_an_acknowledgement(worker, receivers, tenants):
    # Given a receiver that answers retCode 0 but echoes a session id of its own
    wrong = json.dumps({"sessionId": "xxxxxxxx", "retCode": 0}).encode()
    r = receivers(responder=tencent_receiver([wrong] * 10))
    acct = tenants["east_acct"]
    WebhookFactory(payload_url=f"{r.url}/tencent", account=acct, max_attempts=2, **TENCENT_RULE)

    event = event_publish(type="ALARM.CPU", data={}, account=acct).event

    # Then every attempt fails, and the delivery fails with the reason
    delivery = wait_until(lambda: finished(event.deliveries.get()), message="the delivery")
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 2 and delivery.last_status_code == 200
    assert delivery.last_error == (
        f'no acknowledgement: sessionId was "xxxxxxxx", not the session id "{delivery.id}"'
    )


def test_a_webhook_without_a_rule_takes_any_2xx(worker, receivers, tenants):
    r = receivers(responder=lambda got: (200, b"OK"))
    acct = tenants["east_acct"]
    WebhookFactory(payload_url=f"{r.url}/plain", account=acct)
    event = event_publish(type="ALARM.CPU", data={}, account=acct).event
    delivery = wait_until(lambda: finished(event.deliveries.get()), message="the delivery")
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 1)
    assert SESSION_HEADER not in r.wait_for(1)[0].headers


# --- alarm repeats ------------------------------------------------------------------------


def arrivals(r, event_id: str) -> list[str]:
    """The webhook-ids of what arrived for one event: its id, then id.r1, id.r2..."""
    return [x.headers["webhook-id"] for x in r.received if x.json["id"] == event_id]


def test_a_firing_alarm_repeats_until_its_resolved_event(worker, receivers, tenants):
    # Given a Tencent-style webhook asking for repeats every second
    r = receivers(responder=tencent_receiver([]))
    acct = tenants["east_acct"]
    WebhookFactory(
        payload_url=f"{r.url}/tencent",
        account=acct,
        repeat_every=1,
        repeat_max=20,
        **TENCENT_RULE,
    )
    api = client_for(UserFactory(username="ops", is_superuser=True, is_staff=True))
    alarm = {"type": "ALARM.CPU", "account": str(acct.id), "incident_key": "policy-1/ins-1"}

    # When a firing alarm is published over the API
    published = api.post(EVENTS, {**alarm, "data": {"cpu": 99}}, format="json")
    assert published.status_code == 202, published.content
    firing = published.json()["id"]

    # Then it arrives, and again about a second later, and again
    wait_until(lambda: len(arrivals(r, firing)) >= 3, timeout=20, message="two repeats")
    assert arrivals(r, firing)[:3] == [firing, f"{firing}.r1", f"{firing}.r2"]
    times = [x.received_at for x in r.received if x.json["id"] == firing]
    assert all(0.9 <= b - a <= 5 for a, b in itertools.pairwise(times)), times
    # each repeat with a session id of its own (it is a delivery of its own)
    sessions = [x.headers[SESSION_HEADER] for x in r.received if x.json["id"] == firing]
    assert len(set(sessions)) == len(sessions)
    assert r.received[0].json["incident"] == {"key": "policy-1/ins-1", "state": "firing"}

    # When the incident's resolved event is published
    resolved = api.post(
        EVENTS, {**alarm, "incident_state": "resolved", "data": {"cpu": 10}}, format="json"
    ).json()["id"]

    # Then the resolved event is delivered, and the firing one no more
    wait_until(lambda: arrivals(r, resolved) == [resolved], message="the resolved event")
    count = len(arrivals(r, firing))
    time.sleep(2.5)
    assert len(arrivals(r, firing)) <= count + 1  # at most one that was already in flight
    settled = len(arrivals(r, firing))
    time.sleep(1.5)
    assert len(arrivals(r, firing)) == settled
    assert not Delivery.objects.filter(event_id=firing, status=DeliveryStatus.PENDING).exists()
    assert arrivals(r, resolved) == [resolved]  # never repeated itself


def test_repeats_are_bounded_by_repeat_max(worker, receivers, tenants):
    r = receivers()
    acct = tenants["east_acct"]
    WebhookFactory(payload_url=f"{r.url}/hook", account=acct, repeat_every=1, repeat_max=2)
    event = event_publish(
        type="ALARM.CPU", data={}, account=acct, incident_key="k", incident_state="firing"
    ).event
    firing = str(event.id)
    wait_until(lambda: len(arrivals(r, firing)) == 3, timeout=20, message="two repeats")
    time.sleep(2.5)
    assert arrivals(r, firing) == [firing, f"{firing}.r1", f"{firing}.r2"]
    assert list(event.deliveries.order_by("repeat").values_list("repeat", "status")) == [
        (0, "succeeded"),
        (1, "succeeded"),
        (2, "succeeded"),
    ]


def test_a_due_repeat_survives_a_worker_restart_and_a_lost_message(
    worker, receivers, tenants, redis_url
):
    # Given a firing alarm delivered once, whose repeat waits in the database
    r = receivers()
    acct = tenants["east_acct"]
    webhook = WebhookFactory(
        payload_url=f"{r.url}/hook", account=acct, repeat_every=2, repeat_max=1
    )
    event = event_publish(type="ALARM.CPU", data={}, account=acct, incident_key="k").event
    wait_until(lambda: Delivery.objects.filter(webhook=webhook, repeat=1).exists(), message="r1")

    # When the worker stops, and the repeat's queue message is lost with Redis
    worker.stop()
    redis.Redis.from_url(redis_url).flushdb()
    time.sleep(2.5)
    worker.start()
    assert len(r.received) == 1

    # Then the sweeper finds the due repeat, and it is delivered after all
    def swept_and_sent():
        sweep.delay()
        return len(arrivals(r, str(event.id))) == 2

    wait_until(swept_and_sent, timeout=20, every=1, message="the repeat after the restart")
    assert arrivals(r, str(event.id)) == [str(event.id), f"{event.id}.r1"]
    assert Event.objects.count() == 1
