"""What attempt results do to their endpoint (deliveries/pipeline/health.py):
failure counts, the circuit breaker, throttling, auto-disable, 410 Gone, and
the operational events each change publishes.

Every round goes the way a worker's does (send.py): a real claim, the
requests built, the results recorded and folded into the endpoint's health
(`_Batch.record`); only the HTTP is left out, and the time is frozen.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deliveries import queue
from deliveries.http import ErrorClass, SendResult
from deliveries.models import Delivery, DeliveryStatus, Event
from deliveries.pipeline import send as send_module
from deliveries.pipeline.claim import deliveries_claim
from deliveries.pipeline.health import endpoints_update
from deliveries.pipeline.outcome import decide
from deliveries.pipeline.record import attempt_build
from deliveries.pipeline.send import _Batch
from hooks.health import Circuit, Health
from hooks.models import Scope, Webhook
from tests.factories import DeliveryFactory, EventFactory, WebhookFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
OK = SendResult(status_code=200)
FAIL = SendResult(status_code=500)
TIMEOUT = SendResult(error_class=ErrorClass.TIMEOUT, error_message="timed out (curl error 28)")
GONE = SendResult(status_code=410)


def at(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def quiet_queue(monkeypatch, settings):
    """No Redis: record.py's near retries are noted, not sent."""
    sent = []
    monkeypatch.setattr(queue, "deliveries_enqueue", lambda ids, **kw: sent.append(list(ids)))
    settings.WEBHOOK_MAX_IN_FLIGHT = 10
    settings.WEBHOOK_CIRCUIT_FAILURES = 3
    settings.WEBHOOK_CIRCUIT_COOLDOWN = 30
    settings.WEBHOOK_CIRCUIT_COOLDOWN_MAX = 100
    settings.WEBHOOK_DISABLE_AFTER = 5 * 86400
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 10, 20]
    settings.WEBHOOK_RETRY_JITTER = 0
    settings.WEBHOOK_MAX_ATTEMPTS = 8
    settings.WEBHOOK_RETRY_AFTER_MAX = 3600
    return sent


@pytest.fixture
def webhook():
    return WebhookFactory(payload_url="https://receiver.example/hook")


@pytest.fixture
def operator():
    """A global webhook subscribed to the platform's events about endpoints."""
    return WebhookFactory(
        name="ops",
        scope=Scope.GLOBAL,
        event_types=["webhook.*", "delivery.*"],
        payload_url="https://ops.example/hook",
    )


def pending(webhook: Webhook, n: int = 1, *, due: dt.datetime = NOW, **kwargs) -> list[Delivery]:
    return [
        DeliveryFactory(webhook=webhook, event=EventFactory(), next_attempt_at=due, **kwargs)
        for _ in range(n)
    ]


def send(deliveries, *results: SendResult, when: dt.datetime) -> list[Delivery]:
    """Claim these deliveries at `when` (as a message for them would) and record
    one result for each in the order given (one result: the same for all), in
    one group, as send.py does. Returns what the claim took."""
    with time_machine.travel(when, tick=False):
        token, claimed = deliveries_claim([d.id for d in deliveries], room=0)
        batch = _Batch()
        requests = {r.key: r for r in batch.requests_for(token, claimed)}
        ids = [d.id for d in deliveries]
        by_id = dict(zip(ids, results * len(ids) if len(results) == 1 else results, strict=True))
        done = [(requests[d.id], by_id[d.id]) for d in deliveries if d.id in requests]
        if done:
            batch.record(done)
    return claimed


def reloaded(webhook: Webhook) -> Webhook:
    return Webhook.objects.get(id=webhook.id)


def events(type: str) -> list[Event]:
    return list(Event.objects.filter(type=type))


# --- failures and the circuit -------------------------------------------------------------


def test_failures_below_the_threshold_degrade_but_keep_sending(webhook):
    # Given two failures, one fewer than WEBHOOK_CIRCUIT_FAILURES
    send(pending(webhook, 2), FAIL, when=NOW)

    # Then the endpoint is degraded, its circuit still closed
    w = reloaded(webhook)
    assert (w.consecutive_failures, w.failing_since, w.circuit) == (2, NOW, Circuit.CLOSED)
    assert w.health == Health.DEGRADED
    assert events("webhook.circuit_opened") == []


def test_the_circuit_opens_after_n_failures_in_a_row_and_holds_every_pending_delivery(webhook):
    # Given a failure, then later two more, and five deliveries waiting
    first = pending(webhook)
    send(first, TIMEOUT, when=NOW)
    batch = pending(webhook, 2, due=at(1))
    waiting = pending(webhook, 5, due=at(2))

    # When the third failure in a row is recorded
    send(batch, TIMEOUT, when=at(2))

    # Then the circuit is open until the cool-down has passed
    w = reloaded(webhook)
    assert w.circuit == Circuit.OPEN and w.health == Health.CIRCUIT_OPEN
    assert (w.circuit_retry_at, w.circuit_cooldown) == (at(32), 30)
    assert w.consecutive_failures == 3
    assert w.state_reason.startswith("2+ failures in a row; last: Timeout")
    assert w.state_changed_at == at(2)
    # and every pending delivery, failed or not yet tried, is held until the
    # probe: not due before it, no message in flight for it
    held = Delivery.objects.filter(webhook=webhook)
    assert {d.status for d in held} == {DeliveryStatus.PENDING}
    assert {d.next_attempt_at for d in held} == {at(32)}
    assert {d.message_due_at for d in held} == {None}
    # Held deliveries spend no attempts: the waiting ones have none.
    assert {d.attempts for d in held.filter(id__in=[d.id for d in waiting])} == {0}
    # and the operator is told, once
    (opened,) = events("webhook.circuit_opened")
    assert opened.data["webhook"]["id"] == str(webhook.id)
    assert opened.data["retry_at"] == at(32).isoformat()


@pytest.fixture
def opened(webhook):
    """The webhook's circuit, opened at NOW by three timeouts (probe at NOW + 30 s);
    its three deliveries held."""
    held = pending(webhook, 3)
    send(held, TIMEOUT, when=NOW)
    assert reloaded(webhook).circuit == Circuit.OPEN
    return held


def test_nothing_is_claimed_while_the_circuit_is_open(webhook, opened):
    # Given the deliveries' own message arriving early, with a newer one due
    late = pending(webhook, due=at(5))

    # When it is claimed before the cool-down ends
    with time_machine.travel(at(29), tick=False):
        _, claimed = deliveries_claim([d.id for d in [*opened, *late]], room=10)

    # Then nothing is taken and no attempt is spent
    assert claimed == []
    assert dict(Delivery.objects.values_list("id", "attempts")) == {
        **{d.id: 1 for d in opened},
        late[0].id: 0,
    }


def test_after_the_cool_down_one_probe_is_sent(webhook, opened):
    with time_machine.travel(at(30), tick=False):
        _, claimed = deliveries_claim([d.id for d in opened], room=10)

    assert len(claimed) == 1


def test_failed_probes_double_the_cool_down_up_to_the_max(webhook, opened):
    # Given an open circuit (30 s, max 100 s); each probe fails
    retry_at, cooldowns = at(30), []
    for _ in range(3):
        probe = send(opened, TIMEOUT, when=retry_at)
        assert len(probe) == 1
        w = reloaded(webhook)
        cooldowns.append(w.circuit_cooldown)
        assert w.circuit == Circuit.OPEN
        assert w.circuit_retry_at == retry_at + dt.timedelta(seconds=w.circuit_cooldown)
        # the held deliveries wait for the next probe
        assert set(Delivery.objects.values_list("next_attempt_at", flat=True)) == {
            w.circuit_retry_at
        }
        retry_at = w.circuit_retry_at

    assert cooldowns == [60, 100, 100]
    # Opened once: a probe that fails is not news.
    assert len(events("webhook.circuit_opened")) == 1


def test_a_successful_probe_closes_the_circuit_and_makes_the_held_deliveries_due(webhook, opened):
    # Given also a retry waiting far off
    far = pending(webhook, due=at(600))

    # When the probe, after the cool-down, succeeds
    probe = send(opened, OK, when=at(31))

    # Then the circuit is closed, the endpoint healthy again
    w = reloaded(webhook)
    assert (w.circuit, w.circuit_retry_at, w.circuit_cooldown) == (Circuit.CLOSED, None, 0)
    assert (w.consecutive_failures, w.failing_since, w.last_success_at) == (0, None, at(31))
    assert w.health == Health.HEALTHY and w.state_reason == ""
    # and the held deliveries are due now, for the sweeper to queue
    rest = list(Delivery.objects.exclude(id=probe[0].id))
    assert {(d.status, d.message_due_at) for d in rest} == {(DeliveryStatus.PENDING, None)}
    assert all(d.next_attempt_at <= at(31) for d in rest)
    assert Delivery.objects.get(id=far[0].id).next_attempt_at == at(31)
    assert Delivery.objects.get(id=probe[0].id).status == DeliveryStatus.SUCCEEDED
    (closed,) = events("webhook.circuit_closed")
    assert closed.data["webhook"]["id"] == str(webhook.id)


def test_failures_of_requests_sent_before_the_circuit_opened_do_not_lengthen_it(webhook):
    # Given five requests in flight at once, whose results land in two groups
    flight = pending(webhook, 5)
    with time_machine.travel(NOW, tick=False):
        token, claimed = deliveries_claim([d.id for d in flight], room=0)
        batch = _Batch()
        requests = batch.requests_for(token, claimed)
    assert len(requests) == 5
    later = pending(webhook, 2, due=at(1))

    # When the first three time out (the circuit opens), then the other two
    with time_machine.travel(at(10), tick=False):
        batch.record([(r, TIMEOUT) for r in requests[:3]])
    with time_machine.travel(at(11), tick=False):
        batch.record([(r, TIMEOUT) for r in requests[3:]])

    # Then the cool-down is the first one, not doubled by failures that were
    # no probe; and every pending delivery waits for that one probe
    w = reloaded(webhook)
    assert (w.circuit, w.circuit_cooldown, w.circuit_retry_at) == (Circuit.OPEN, 30, at(40))
    assert w.consecutive_failures == 5
    assert set(Delivery.objects.values_list("next_attempt_at", flat=True)) == {at(40)}
    assert {d.id for d in later} <= set(Delivery.objects.values_list("id", flat=True))
    assert len(events("webhook.circuit_opened")) == 1


def test_a_success_beside_failures_resets_the_count_to_the_trailing_failures(webhook):
    send(pending(webhook, 2), FAIL, when=NOW)

    send(pending(webhook, 3), OK, FAIL, FAIL, when=at(1))

    w = reloaded(webhook)
    assert (w.consecutive_failures, w.failing_since, w.last_success_at) == (2, at(1), at(1))
    assert w.circuit == Circuit.CLOSED


# --- throttling ---------------------------------------------------------------------------


def test_retry_after_halves_the_sending_limit_and_pauses_the_endpoint(webhook):
    # Given a 429 asking for 20 s
    send(pending(webhook), SendResult(status_code=429, headers={"retry-after": "20"}), when=NOW)

    # Then the endpoint sends half as much, and nothing before then
    w = reloaded(webhook)
    assert (w.throttle_limit, w.throttled_until) == (5, at(20))
    assert w.health == Health.DEGRADED
    assert w.state_reason.startswith("asked to wait until 12:00:20Z")
    waiting = pending(webhook, 8)
    with time_machine.travel(at(19), tick=False):
        assert deliveries_claim([d.id for d in waiting], room=0)[1] == []
    # and once the pause is over, at most the halved limit at once
    with time_machine.travel(at(20), tick=False):
        assert len(deliveries_claim([d.id for d in waiting], room=0)[1]) == 5


def test_throttling_halves_down_to_one_and_grows_back_one_slot_per_good_round(webhook, settings):
    settings.WEBHOOK_CIRCUIT_FAILURES = 100
    webhook.max_in_flight = 4
    webhook.save()
    limits = []
    # 503s without Retry-After: slower, never paused
    for n in range(3):
        send(pending(webhook), SendResult(status_code=503), when=at(n))
        limits.append(reloaded(webhook).throttle_limit)
    assert reloaded(webhook).throttled_until is None
    for n in range(3, 6):
        send(pending(webhook), OK, when=at(n))
        limits.append(reloaded(webhook).throttle_limit)

    # Multiplicative decrease, additive increase, back to no throttle at the limit
    assert limits == [2, 1, 1, 2, 3, None]
    assert reloaded(webhook).health == Health.HEALTHY


# --- disabling ----------------------------------------------------------------------------


def test_a_410_disables_the_webhook_and_holds_its_deliveries(webhook):
    # Given a 410 and another delivery waiting
    gone = pending(webhook)
    waiting = pending(webhook)
    send(gone, GONE, when=NOW)

    # Then the webhook is disabled, the deliveries held pending, not failed
    w = reloaded(webhook)
    assert (w.enabled, w.health, w.state_changed_at) == (False, Health.DISABLED, NOW)
    assert "410 Gone" in w.state_reason
    assert {d.status for d in Delivery.objects.all()} == {DeliveryStatus.PENDING}
    with time_machine.travel(at(1), tick=False):
        assert deliveries_claim([d.id for d in [*gone, *waiting]], room=10)[1] == []
    # And the operator is told once, though a second 410 lands later
    assert len(events("webhook.disabled")) == 1


def test_a_410s_webhook_is_disabled_before_its_delivery_is_pending_and_due_again(
    webhook, monkeypatch
):
    # Given a 410, whose delivery is written back pending and due (held)
    enabled_when_recorded = []
    record = send_module.outcomes_record

    def spy(token, results):
        enabled_when_recorded.append(Webhook.objects.get(id=webhook.id).enabled)
        return record(token, results)

    monkeypatch.setattr(send_module, "outcomes_record", spy)

    # When it is recorded
    send(pending(webhook), GONE, when=NOW)

    # Then its webhook was disabled first: no claim in between can send it again
    assert enabled_when_recorded == [False]
    assert len(events("webhook.disabled")) == 1


def test_another_410_from_a_request_already_in_flight_is_not_news_again(webhook):
    flight = pending(webhook, 2)
    with time_machine.travel(NOW, tick=False):
        token, claimed = deliveries_claim([d.id for d in flight], room=0)
        batch = _Batch()
        requests = batch.requests_for(token, claimed)
        batch.record([(requests[0], GONE)])
        batch.record([(requests[1], GONE)])

    assert len(events("webhook.disabled")) == 1
    assert {d.status for d in Delivery.objects.all()} == {DeliveryStatus.PENDING}


def test_an_endpoint_that_only_failed_for_too_long_is_disabled(webhook, settings):
    settings.WEBHOOK_CIRCUIT_FAILURES = 100
    settings.WEBHOOK_DISABLE_AFTER = 3600
    send(pending(webhook), FAIL, when=NOW)
    send(pending(webhook), FAIL, when=at(3599))
    assert reloaded(webhook).enabled

    send(pending(webhook), FAIL, when=at(3600))

    w = reloaded(webhook)
    assert not w.enabled and w.health == Health.DISABLED
    assert w.state_reason.startswith("only failures since 2024-05-01 12:00:00Z")
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 3
    (disabled,) = events("webhook.disabled")
    assert disabled.data["reason"] == w.state_reason


# --- quiet endpoints ----------------------------------------------------------------------


def test_a_healthy_endpoint_that_stays_healthy_writes_nothing(webhook):
    # Given an endpoint that succeeded 10 s ago
    Webhook.objects.filter(id=webhook.id).update(last_success_at=at(-10))
    webhook.refresh_from_db()
    results = successes(webhook, 3)

    # When another batch succeeds
    with CaptureQueriesContext(connection) as queries:
        endpoints_update(results, now=NOW)

    # Then its row is left alone: no query at all
    assert len(queries) == 0


def test_a_healthy_endpoint_notes_its_last_success_once_a_minute(webhook):
    Webhook.objects.filter(id=webhook.id).update(last_success_at=at(-61))
    webhook.refresh_from_db()
    results = successes(webhook, 3)

    with CaptureQueriesContext(connection) as queries:
        endpoints_update(results, now=NOW)

    assert reloaded(webhook).last_success_at == NOW
    assert len(queries) <= 2  # the row's update (and closing a circuit, if open)


def successes(webhook, n):
    results = []
    for delivery in pending(webhook, n):
        delivery.attempts = 1
        attempt = attempt_build(delivery, webhook.payload_url, [], OK, NOW)
        results.append((delivery, attempt, decide(delivery, OK, now=NOW)))
    return results


# --- operational events -------------------------------------------------------------------


def test_operational_events_reach_operators_but_never_the_webhook_they_are_about(operator):
    # Given a failing global webhook that would match every event, itself too
    failing = WebhookFactory(scope=Scope.GLOBAL, payload_url="https://down.example/hook")

    # When its circuit opens
    send(pending(failing, 3), FAIL, when=NOW)

    # Then the event goes to the operator, not to the endpoint it is about
    (opened,) = events("webhook.circuit_opened")
    assert set(opened.deliveries.values_list("webhook_id", flat=True)) == {operator.id}
    assert opened.account_id == failing.account_id
    assert (opened.resource_type, opened.resource_id) == ("webhook", str(failing.id))


def test_an_exhausted_delivery_is_reported(webhook, operator):
    last = pending(webhook, attempts=7)  # the 8th attempt is the last

    send(last, FAIL, when=NOW)

    assert Delivery.objects.get(id=last[0].id).status == DeliveryStatus.FAILED
    (exhausted,) = events("delivery.exhausted")
    assert exhausted.data["delivery_id"] == str(last[0].id)
    assert exhausted.data["attempts"] == 8 and exhausted.data["last_error"] == "HTTP 500"


def test_an_exhausted_delivery_is_reported_though_others_succeeded_after_it(webhook):
    # Given a healthy, quiet endpoint: the batch's success says nothing new
    Webhook.objects.filter(id=webhook.id).update(last_success_at=at(-10))
    last = pending(webhook, attempts=7)
    fine = pending(webhook)

    send([*last, *fine], FAIL, OK, when=NOW)

    assert len(events("delivery.exhausted")) == 1


def test_an_exhausted_delivery_is_reported_though_its_webhook_went_away(webhook):
    last = pending(webhook, attempts=7)
    gone = pending(webhook)

    send([*last, *gone], FAIL, GONE, when=NOW)

    assert not reloaded(webhook).enabled
    (exhausted,) = events("delivery.exhausted")
    assert exhausted.data["last_error"] == "HTTP 500"  # its own, not the batch's last
    assert len(events("webhook.disabled")) == 1


def test_an_operators_failures_make_no_events_about_its_operational_deliveries(operator):
    # Given an operational event waiting for the operator, at its last attempt
    failing = WebhookFactory(payload_url="https://down.example/hook")
    send(pending(failing, 3), FAIL, when=NOW)
    (to_operator,) = Delivery.objects.filter(webhook=operator)
    Delivery.objects.filter(id=to_operator.id).update(attempts=7, next_attempt_at=at(1))

    # When the operator fails to take it
    send([to_operator], FAIL, when=at(1))

    # Then it is exhausted, and no event is made about that
    assert Delivery.objects.get(id=to_operator.id).status == DeliveryStatus.FAILED
    assert events("delivery.exhausted") == []


def test_an_operators_own_circuit_opening_is_not_sent_to_itself(operator):
    # Given the operator's endpoint down, with three events waiting for it
    send(pending(operator, 3), FAIL, when=NOW)

    # Then its circuit opens, and that event goes nowhere (no other operator)
    (opened,) = events("webhook.circuit_opened")
    assert not opened.deliveries.exists()
