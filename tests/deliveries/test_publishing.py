"""Publishing: event in, one pending delivery per matching webhook out, in one
transaction; Celery hears of it only after commit."""

import datetime as dt
import uuid

import pytest
import time_machine
from celery import current_app
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from kombu.exceptions import OperationalError

from deliveries import queue
from deliveries.models import Delivery, DeliveryStatus, Event
from deliveries.publishing import EventActor, EventConflict, event_publish
from deliveries.queue import DELIVER_TASK, deliveries_enqueue
from hooks.health import Circuit
from hooks.models import Scope, Webhook
from tests.api_client import url_of
from tests.conftest import PUBLIC_URL
from tests.factories import DeliveryFactory, WebhookFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
EVENT_ID = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")


@pytest.fixture
def enqueued(monkeypatch):
    """What publishing hands to enqueue(), instead of sending it to Redis."""
    calls = []
    monkeypatch.setattr(queue, "deliveries_enqueue", lambda ids, **kwargs: calls.append(list(ids)))
    return calls


@pytest.fixture
def east_hooks(tenants):
    """Two webhooks that want east's VM.CREATE, one that does not, one elsewhere."""
    return {
        "local": WebhookFactory(name="local", account=tenants["east_acct"]),
        "domain": WebhookFactory(name="domain", scope=Scope.DOMAIN, account=tenants["east_acct"]),
        "volumes": WebhookFactory(
            name="volumes", account=tenants["east_acct"], event_types=["VOLUME.*"]
        ),
        "west": WebhookFactory(name="west", account=tenants["west_acct"]),
    }


def publish(tenants, **kwargs):
    defaults = {"type": "VM.CREATE", "data": {"name": "vm-1"}, "account": tenants["east_acct"]}
    return event_publish(**{**defaults, **kwargs})


# --- deliveries ----------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_one_pending_delivery_per_matching_webhook(
    tenants, east_hooks, django_capture_on_commit_callbacks, enqueued
):
    # when
    with django_capture_on_commit_callbacks():
        result = publish(tenants, resource_id="vm-42", resource_type="VirtualMachine")

    # then
    assert result.created is True
    assert result.delivery_count == 2
    deliveries = Delivery.objects.filter(event=result.event)
    assert {d.webhook.name for d in deliveries} == {"local", "domain"}
    for delivery in deliveries:
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.attempts == 0
        assert delivery.next_attempt_at == NOW
        assert delivery.message_due_at == NOW
        assert delivery.finished_at is None
    # and the event is stored once, with what the producer said
    event = Event.objects.get()
    assert event.type == "VM.CREATE"
    assert event.account == tenants["east_acct"]
    assert event.domain == tenants["east"]
    assert event.resource_id == "vm-42"
    assert event.data == {"name": "vm-1"}
    assert event.occurred_at == NOW


def test_an_event_nobody_wants_is_stored_without_deliveries(
    tenants, east_hooks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        result = publish(tenants, type="NETWORK.CREATE", account=tenants["root_acct"])

    assert result.created is True
    assert result.delivery_count == 0
    assert Event.objects.filter(id=result.event.id).exists()
    assert not Delivery.objects.exists()
    assert callbacks == []  # nothing to wake a worker for


def test_a_given_id_and_timestamp_are_kept(tenants, east_hooks, enqueued):
    occurred = dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)

    result = publish(tenants, event_id=EVENT_ID, occurred_at=occurred)

    assert result.event.id == EVENT_ID
    assert Event.objects.get(id=EVENT_ID).occurred_at == occurred


# --- after commit, and only then -----------------------------------------------------------


def test_workers_are_woken_only_after_commit(
    tenants, east_hooks, django_capture_on_commit_callbacks, enqueued
):
    # when publishing, inside the transaction
    with django_capture_on_commit_callbacks() as callbacks:
        result = publish(tenants)

        # then nothing has been queued yet
        assert enqueued == []

    # and exactly one callback waits for the commit
    assert len(callbacks) == 1
    assert enqueued == []

    # when the transaction commits
    callbacks[0]()

    # then the new deliveries are queued, by id
    assert len(enqueued) == 1
    assert sorted(enqueued[0]) == sorted(
        Delivery.objects.filter(event=result.event).values_list("id", flat=True)
    )


def test_a_rolled_back_caller_leaves_nothing_and_queues_nothing(
    tenants, east_hooks, django_capture_on_commit_callbacks, enqueued
):
    # given a caller whose own transaction fails after publishing
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError, match="caller failed"),
        transaction.atomic(),
    ):
        publish(tenants)
        assert Delivery.objects.count() == 2
        raise RuntimeError("caller failed")

    # then
    assert not Event.objects.exists()
    assert not Delivery.objects.exists()
    assert callbacks == []
    assert enqueued == []


# --- publishing an id again ------------------------------------------------------------------


def test_on_postgresql_a_publish_takes_no_savepoint_and_an_incident_does(
    tenants, east_hooks, django_capture_on_commit_callbacks, enqueued
):
    # The event and its deliveries are one INSERT there: atomic by itself
    # (deliveries.publishing._needs_transaction). The test runs inside a
    # transaction, as a caller's own would.
    if connection.vendor != "postgresql":
        pytest.skip("SQLite writes through the ORM, in a transaction")
    with CaptureQueriesContext(connection) as plain, django_capture_on_commit_callbacks():
        result = publish(tenants)
    with CaptureQueriesContext(connection) as incident, django_capture_on_commit_callbacks():
        publish(tenants, incident_key="disk-full")

    assert result.delivery_count == 2
    assert not [q for q in plain.captured_queries if "SAVEPOINT" in q["sql"]]
    # an alarm also ends its incident's older repeats: in one savepoint with it
    assert [q for q in incident.captured_queries if q["sql"].startswith("SAVEPOINT")]


def test_the_same_id_and_contents_is_the_same_event(
    tenants, east_hooks, django_capture_on_commit_callbacks, enqueued
):
    # given
    first = publish(tenants, event_id=EVENT_ID)

    # when the producer retries
    with django_capture_on_commit_callbacks() as callbacks:
        again = publish(tenants, event_id=EVENT_ID)

    # then
    assert again.created is False
    assert again.event.pk == first.event.pk == EVENT_ID
    assert again.delivery_count == first.delivery_count == 2
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 2
    assert callbacks == []


def test_a_retry_without_a_timestamp_is_the_same_event(tenants, east_hooks, enqueued):
    # a producer that leaves the timestamp out gets "now" each time; that is no conflict
    with time_machine.travel(NOW, tick=False):
        publish(tenants, event_id=EVENT_ID)
    with time_machine.travel(NOW + dt.timedelta(minutes=1), tick=False):
        again = publish(tenants, event_id=EVENT_ID)

    assert again.created is False
    assert again.event.occurred_at == NOW


def test_the_same_explicit_timestamp_is_the_same_event(tenants, east_hooks, enqueued):
    publish(tenants, event_id=EVENT_ID, occurred_at=NOW)

    again = publish(tenants, event_id=EVENT_ID, occurred_at=NOW)

    assert again.created is False


@pytest.mark.parametrize(
    "change",
    [
        {"data": {"name": "vm-2"}},
        {"type": "VM.DESTROY"},
        {"resource_id": "other"},
        {"resource_type": "Volume"},
        {"occurred_at": NOW + dt.timedelta(seconds=1)},
    ],
    ids=["data", "type", "resource_id", "resource_type", "timestamp"],
)
def test_the_same_id_with_different_contents_is_a_conflict(tenants, east_hooks, enqueued, change):
    # given
    publish(tenants, event_id=EVENT_ID, occurred_at=NOW)

    # when, then
    with pytest.raises(EventConflict, match=str(EVENT_ID)):
        publish(tenants, **{"event_id": EVENT_ID, "occurred_at": NOW, **change})

    assert Event.objects.count() == 1
    assert Event.objects.get().data == {"name": "vm-1"}
    assert Delivery.objects.count() == 2


def test_the_same_id_for_another_account_is_a_conflict(tenants, east_hooks, enqueued):
    publish(tenants, event_id=EVENT_ID)

    with pytest.raises(EventConflict):
        publish(tenants, event_id=EVENT_ID, account=tenants["west_acct"])


# --- enqueue ------------------------------------------------------------------------------------


def test_enqueue_sends_delivery_ids_in_batches(settings, monkeypatch):
    # given
    settings.WEBHOOK_BATCH_SIZE = 2
    sent = []
    monkeypatch.setattr(
        current_app, "send_task", lambda name, **kwargs: sent.append((name, kwargs))
    )
    ids = [uuid.uuid4() for _ in range(5)]

    # when
    deliveries_enqueue(ids, countdown=7)

    # then: messages carry ids as strings, never payloads (and say how many)
    assert [(name, kwargs["args"], kwargs["countdown"]) for name, kwargs in sent] == [
        (DELIVER_TASK, [[str(ids[0]), str(ids[1])]], 7),
        (DELIVER_TASK, [[str(ids[2]), str(ids[3])]], 7),
        (DELIVER_TASK, [[str(ids[4])]], 7),
    ]
    assert [kwargs["argsrepr"] for _, kwargs in sent] == ["[<2 delivery ids>]"] * 2 + [
        "[<1 delivery ids>]"
    ]


# Committed rows (transaction=True): the wake-up thread marks them through its
# own database connection, which sees only what is committed.
@pytest.mark.django_db(transaction=True)
def test_enqueue_with_the_broker_down_does_not_raise_and_leaves_it_to_the_sweeper(monkeypatch):
    # given pending deliveries that expect a message
    pending = DeliveryFactory.create_batch(2, message_due_at=NOW, next_attempt_at=NOW)
    sending = DeliveryFactory(status=DeliveryStatus.SENDING, message_due_at=NOW)

    def broker_down(name, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(current_app, "send_task", broker_down)

    # when
    deliveries_enqueue([d.id for d in [*pending, sending]])
    assert queue.flush(timeout=10)

    # then the pending ones are marked as having no message in flight
    for delivery in pending:
        delivery.refresh_from_db()
        assert delivery.message_due_at is None
        assert delivery.status == DeliveryStatus.PENDING
    # and one a worker holds is left alone
    sending.refresh_from_db()
    assert sending.message_due_at == NOW


@pytest.mark.django_db(transaction=True)
def test_publish_commits_even_when_the_broker_is_down(
    tenants, east_hooks, django_capture_on_commit_callbacks, monkeypatch
):
    # given
    def broker_down(name, **kwargs):
        raise OperationalError("Connection refused.")

    monkeypatch.setattr(current_app, "send_task", broker_down)

    # when the commit runs the real enqueue
    with django_capture_on_commit_callbacks(execute=True):
        result = publish(tenants)
    assert queue.flush(timeout=10)

    # then the deliveries are stored, and waiting for the sweeper
    assert result.delivery_count == 2
    assert list(Delivery.objects.values_list("status", "message_due_at")) == [
        (DeliveryStatus.PENDING, None),
        (DeliveryStatus.PENDING, None),
    ]


def test_the_actor_is_stored_and_kept_when_the_id_is_published_again(tenants, enqueued):
    # given an event published with an actor
    alice = EventActor(id="0000aaaa-aaaa-0000-0000-0000aaaa0000", name="alice@example.com")
    first = event_publish(
        type="VM.CREATE", data={}, account=tenants["east_acct"], event_id=EVENT_ID, actor=alice
    )

    # when the same id is published again by someone else
    again = event_publish(
        type="VM.CREATE",
        data={},
        account=tenants["east_acct"],
        event_id=EVENT_ID,
        actor=EventActor(id="bob"),
    )

    # then it is the same event, with its first actor
    assert not again.created
    stored = Event.objects.get(id=first.event.id)
    assert (stored.actor_id, stored.actor_name) == (alice.id, alice.name)
    assert stored.envelope()["actor"] == {"id": alice.id, "name": alice.name}


def test_no_actor_by_default_from_python(tenants, enqueued):
    result = event_publish(type="VM.CREATE", data={}, account=tenants["east_acct"])

    assert result.event.envelope()["actor"] is None


def test_an_actor_longer_than_its_column_is_refused_up_front():
    with pytest.raises(ValueError, match="actor's name is over 255"):
        EventActor(id="u", name="x" * 256)


# --- a webhook edited between two events: the second follows the edit -------------------------
# Matching keeps decisions per process (hooks.selectors._receives), keyed by the
# rule columns' text: every kind of edit, through the API or a bare UPDATE that
# sends no signal and bumps no updated_at, must apply to the very next event.

LATER = NOW + dt.timedelta(minutes=5)


def _receivers(result) -> set[str]:
    return set(Delivery.objects.filter(event=result.event).values_list("webhook__name", flat=True))


@pytest.mark.parametrize(
    ("given", "edit", "before", "after"),
    [
        ({}, {"event_types": ["VOLUME.*"]}, {"hook"}, set()),
        ({"event_types": ["VOLUME.*"]}, {"event_types": ["VM.*"]}, set(), {"hook"}),
        (
            {},
            {
                "event_filters": [
                    {"id": str(uuid.uuid4()), "mode": "exclude", "match": "prefix", "value": "VM."}
                ]
            },
            {"hook"},
            set(),
        ),
        ({}, {"call_methods": ["vm.*"]}, {"hook"}, set()),  # now a call hook only
        ({}, {"enabled": False}, {"hook"}, set()),
        ({"account": "west_acct"}, {"scope": Scope.DOMAIN, "domain": "ROOT"}, set(), {"hook"}),
        ({"account": "west_acct"}, {"scope": Scope.GLOBAL}, set(), {"hook"}),
    ],
    ids=[
        "types-narrowed",
        "types-widened",
        "filter-rule",
        "call-hook",
        "disabled",
        "domain-scope",
        "global-scope",
    ],
)
def test_a_bare_update_applies_to_the_next_event(tenants, enqueued, given, edit, before, after):
    # given a webhook that has been matched once (its decision is remembered)
    owner = tenants[given.pop("account", "east_acct")]
    hook = WebhookFactory(name="hook", account=owner, **given)
    assert _receivers(publish(tenants)) == before

    # when it is changed by an UPDATE that sends no signal and bumps no updated_at
    if edit.get("domain") == "ROOT":
        edit = {**edit, "domain": tenants["root_acct"].domain}
    Webhook.objects.filter(id=hook.id).update(**edit)

    # then the next event follows the change
    assert _receivers(publish(tenants)) == after


def test_call_hook_edits_apply_to_the_next_call_event(tenants, enqueued):
    hook = WebhookFactory(name="hook", account=tenants["east_acct"], call_methods=["vm.*"])
    call = {"type": "call.pre", "data": {"method": "vm.start"}}
    assert _receivers(publish(tenants, **call)) == {"hook"}

    Webhook.objects.filter(id=hook.id).update(call_phase="post")
    assert _receivers(publish(tenants, **call)) == set()

    Webhook.objects.filter(id=hook.id).update(call_phase="both", call_methods=["webhook.*"])
    assert _receivers(publish(tenants, **call)) == set()
    assert _receivers(publish(tenants, type="call.post", data={"method": "webhook.x"})) == {"hook"}


def test_an_api_edit_and_a_filter_rule_apply_to_the_next_event(tenants, admin, enqueued):
    hook = WebhookFactory(name="hook", account=tenants["east_acct"], payload_url=PUBLIC_URL)
    assert _receivers(publish(tenants)) == {"hook"}

    patched = admin.patch(url_of(hook), {"event_types": ["VM.DESTROY"]}, format="json")
    assert patched.status_code == 200, patched.content
    assert _receivers(publish(tenants)) == set()

    admin.patch(url_of(hook), {"event_types": []}, format="json")
    rule = {"mode": "exclude", "match": "suffix", "value": ".CREATE"}
    assert admin.post(f"{url_of(hook)}filters/", rule, format="json").status_code == 201
    assert _receivers(publish(tenants)) == set()

    assert admin.delete(f"{url_of(hook)}filters/").status_code == 200
    assert _receivers(publish(tenants)) == {"hook"}


@time_machine.travel(NOW, tick=False)
def test_a_circuit_opened_since_holds_the_next_delivery(tenants, enqueued):
    # given a webhook matched once with its circuit closed
    hook = WebhookFactory(name="hook", account=tenants["east_acct"])
    first = publish(tenants)
    assert Delivery.objects.get(event=first.event).message_due_at == NOW

    # when its circuit opens (the workers write it with an UPDATE)
    Webhook.objects.filter(id=hook.id).update(circuit=Circuit.OPEN, circuit_retry_at=LATER)

    # then the next delivery waits for the probe, with no message
    delivery = Delivery.objects.get(event=publish(tenants).event)
    assert (delivery.next_attempt_at, delivery.message_due_at) == (LATER, None)


def test_a_deleted_webhook_gets_no_more(tenants, enqueued):
    hook = WebhookFactory(name="hook", account=tenants["east_acct"])
    assert _receivers(publish(tenants)) == {"hook"}

    Webhook.objects.filter(id=hook.id).delete()

    assert publish(tenants).delivery_count == 0
