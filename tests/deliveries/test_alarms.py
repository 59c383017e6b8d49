"""Alarm repeats (deliveries/alarms.py): a finished firing alarm schedules its
next repeat atomically with its finish; a newer event of the incident stops
the older's repeats at once; the chain is bounded. Real database; results
recorded through outcomes_record as a worker records them."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from deliveries import queue
from deliveries.http import SendResult
from deliveries.models import Delivery, DeliveryStatus, IncidentState
from deliveries.pipeline.claim import deliveries_claim
from deliveries.pipeline.outcome import decide
from deliveries.pipeline.record import attempt_build, outcomes_record
from deliveries.publishing import EventConflict, event_publish
from tests.factories import WebhookFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
OK = SendResult(status_code=200, body=b"{}")
FAIL = SendResult(status_code=500)


@pytest.fixture(autouse=True)
def enqueued(monkeypatch, settings):
    settings.WEBHOOK_ETA_MAX = 300
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    calls = []
    monkeypatch.setattr(
        queue, "deliveries_enqueue", lambda ids, **kw: calls.append((list(ids), kw))
    )
    return calls


@pytest.fixture
def alarm_hook(tenants):
    return WebhookFactory(account=tenants["east_acct"], repeat_every=60, repeat_max=2)


def alarm(tenants, state="firing", key="cpu/ins-1", **kwargs):
    return event_publish(
        type="ALARM",
        data={"cpu": 99},
        account=tenants["east_acct"],
        incident_key=key,
        incident_state=state,
        **kwargs,
    ).event


def send_due(result=OK) -> list[Delivery]:
    """Claim what is due and record `result` for each, as a worker would."""
    token, claimed = deliveries_claim([])
    rows = []
    for d in claimed:
        attempt = attempt_build(d, d.webhook.payload_url, [], result, NOW)
        rows.append((d, attempt, decide(d, result, now=NOW)))
    outcomes_record(token, rows)
    return claimed


def repeats(webhook) -> list[tuple[int, str]]:
    return list(
        Delivery.objects.filter(webhook=webhook).order_by("repeat").values_list("repeat", "status")
    )


# --- publishing ---------------------------------------------------------------------------


def test_an_alarm_event_carries_its_incident(tenants):
    event = alarm(tenants)
    assert (event.incident_key, event.incident_state) == ("cpu/ins-1", "firing")
    assert event.envelope()["incident"] == {"key": "cpu/ins-1", "state": "firing"}
    # The state defaults to firing when only the key is given
    default = event_publish(type="ALARM", data={}, account=tenants["east_acct"], incident_key="k")
    assert default.event.incident_state == IncidentState.FIRING


def test_an_event_without_an_incident_has_no_incident_member(tenants):
    event = event_publish(type="VM.CREATE", data={}, account=tenants["east_acct"]).event
    assert "incident" not in event.envelope()


@pytest.mark.parametrize(
    ("key", "state", "message"),
    [("", "resolved", "needs an incident_key"), ("k", "ok", "must be one of firing, resolved")],
)
def test_bad_incident_arguments_are_refused(tenants, key, state, message):
    with pytest.raises(ValueError, match=message):
        event_publish(type="A", data={}, incident_key=key, incident_state=state)


def test_republishing_with_another_state_is_a_conflict(tenants):
    event = alarm(tenants)
    with pytest.raises(EventConflict):
        alarm(tenants, state="resolved", event_id=event.id, occurred_at=event.occurred_at)


# --- the chain ----------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_a_delivered_firing_alarm_is_repeated_after_the_period_up_to_the_max(
    tenants, alarm_hook, enqueued
):
    # Given a firing alarm delivered once
    event = alarm(tenants)
    send_due()
    # Then its first repeat waits, due a period later, with a countdown message
    repeat = Delivery.objects.get(webhook=alarm_hook, repeat=1)
    assert repeat.status == DeliveryStatus.PENDING and repeat.event_id == event.id
    assert repeat.next_attempt_at == NOW + dt.timedelta(seconds=60)
    assert ([repeat.id], {"countdown": 60}) in enqueued
    assert send_due() == []  # not due yet

    # When the period has passed, the repeat is sent, and the next is scheduled
    with time_machine.travel(NOW + dt.timedelta(seconds=61), tick=False):
        assert [d.repeat for d in send_due()] == [1]
    with time_machine.travel(NOW + dt.timedelta(seconds=122), tick=False):
        assert [d.repeat for d in send_due()] == [2]
    # And repeat_max (2) ends the chain
    assert repeats(alarm_hook) == [(0, "succeeded"), (1, "succeeded"), (2, "succeeded")]


@time_machine.travel(NOW, tick=False)
def test_a_failed_alarm_is_repeated_too(tenants, alarm_hook, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    alarm(tenants)
    send_due(FAIL)
    assert repeats(alarm_hook) == [(0, "failed"), (1, "pending")]


@time_machine.travel(NOW, tick=False)
def test_a_retried_alarm_is_not_repeated_before_it_finishes(tenants, alarm_hook):
    alarm(tenants)
    send_due(FAIL)  # attempt 1 of 3: pending again
    assert repeats(alarm_hook) == [(0, "pending")]


@time_machine.travel(NOW, tick=False)
def test_no_repeats_without_repeat_every_or_for_events_without_an_incident(tenants):
    plain = WebhookFactory(account=tenants["east_acct"])
    repeating = WebhookFactory(account=tenants["east_acct"], repeat_every=60)
    alarm(tenants)
    event_publish(type="VM.CREATE", data={}, account=tenants["east_acct"])
    send_due()
    assert repeats(plain) == [(0, "succeeded"), (0, "succeeded")]
    assert Delivery.objects.filter(webhook=repeating, repeat=1).count() == 1


@time_machine.travel(NOW, tick=False)
def test_a_resolved_event_stops_a_repeat_already_due_and_is_delivered(tenants, alarm_hook):
    # Given a firing alarm whose first repeat is due now
    firing = alarm(tenants)
    send_due()
    Delivery.objects.filter(repeat=1).update(next_attempt_at=NOW)

    # When the incident's resolved event is published
    resolved = alarm(tenants, state="resolved")

    # Then the due repeat is gone before anyone claims it; the resolved one is sent
    assert not Delivery.objects.filter(event=firing, repeat__gt=0).exists()
    assert [(d.event_id, d.repeat) for d in send_due()] == [(resolved.id, 0)]
    # And a resolved event is never repeated
    assert repeats(alarm_hook) == [(0, "succeeded"), (0, "succeeded")]


@time_machine.travel(NOW, tick=False)
def test_a_repeat_in_its_retries_is_failed_with_the_reason_when_resolved(
    tenants, alarm_hook, settings
):
    firing = alarm(tenants)
    send_due()
    Delivery.objects.filter(repeat=1).update(next_attempt_at=NOW)
    send_due(FAIL)  # the repeat's first attempt fails: pending, to be retried
    resolved = alarm(tenants, state="resolved")
    stopped = Delivery.objects.get(event=firing, repeat=1)
    assert (stopped.status, stopped.attempts) == (DeliveryStatus.FAILED, 1)
    assert stopped.last_error == (
        f"repeat stopped: the incident has a newer event ({resolved.id}, resolved)"
    )


@time_machine.travel(NOW, tick=False)
def test_a_finish_after_the_resolve_schedules_nothing(tenants, alarm_hook):
    # Given a firing alarm being sent when its incident is resolved
    alarm(tenants)
    token, claimed = deliveries_claim([])
    alarm(tenants, state="resolved")
    # When its result is recorded after that
    d = claimed[0]
    outcomes_record(token, [(d, attempt_build(d, "", [], OK, NOW), decide(d, OK, now=NOW))])
    # Then no repeat is scheduled: the event is no longer the incident's latest
    assert not Delivery.objects.filter(repeat__gt=0).exists()


@time_machine.travel(NOW, tick=False)
def test_a_newer_firing_event_takes_over_the_repeats(tenants, alarm_hook):
    first = alarm(tenants)
    send_due()
    with time_machine.travel(NOW + dt.timedelta(seconds=1), tick=False):
        second = alarm(tenants)  # the same incident, firing again (a new value)
        assert not Delivery.objects.filter(event=first, repeat__gt=0).exists()
        send_due()
    assert Delivery.objects.filter(event=second, repeat=1).count() == 1


@time_machine.travel(NOW, tick=False)
def test_incidents_are_per_account(tenants, alarm_hook):
    alarm(tenants)
    send_due()
    # The same key in another account is another incident
    event_publish(
        type="ALARM",
        data={},
        account=tenants["west_acct"],
        incident_key="cpu/ins-1",
        incident_state="resolved",
    )
    assert Delivery.objects.filter(webhook=alarm_hook, repeat=1).count() == 1


@time_machine.travel(NOW, tick=False)
def test_redelivering_an_earlier_link_does_not_fork_the_chain(tenants, alarm_hook):
    from deliveries.pipeline.operator import delivery_redeliver

    alarm(tenants)
    first = send_due()[0]
    # Given its first repeat exists, redelivering the original (it finishes again)
    # leaves that repeat as it is (the real send fails: no receiver listens)
    repeat = Delivery.objects.get(repeat=1)
    delivery_redeliver(delivery=Delivery.objects.get(id=first.id))
    assert list(Delivery.objects.filter(repeat=1).values_list("id", flat=True)) == [repeat.id]


@time_machine.travel(NOW, tick=False)
def test_repeat_max_defaults_to_the_setting(tenants, settings):
    settings.WEBHOOK_REPEAT_COUNT = 1
    webhook = WebhookFactory(account=tenants["east_acct"], repeat_every=60)
    alarm(tenants)
    send_due()
    with time_machine.travel(NOW + dt.timedelta(seconds=61), tick=False):
        send_due()
    assert repeats(webhook) == [(0, "succeeded"), (1, "succeeded")]


@time_machine.travel(NOW, tick=False)
def test_a_webhook_disabled_meanwhile_schedules_no_repeat(tenants, alarm_hook):
    alarm(tenants)
    token, claimed = deliveries_claim([])
    d = claimed[0]
    d.webhook.enabled = False  # as the claim would have read it after an operator's disable
    outcomes_record(token, [(d, attempt_build(d, "", [], OK, NOW), decide(d, OK, now=NOW))])
    assert repeats(alarm_hook) == [(0, "succeeded")]
