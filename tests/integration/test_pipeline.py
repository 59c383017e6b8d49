"""The pipeline end to end: API or Python publish -> PostgreSQL/SQLite ->
Redis -> a real Celery worker -> pycurl -> a real receiver on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from django.db import transaction
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from deliveries import queue
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from deliveries.publishing import event_publish
from deliveries.receiver import always
from deliveries.tasks import purge, sweep
from hooks.models import HeaderStyle, Scope
from hooks.services import token_issue
from tests.factories import TEST_SECRET, WebhookFactory
from tests.live import wait_until

pytestmark = pytest.mark.integration


def finished(delivery: Delivery) -> Delivery | None:
    delivery.refresh_from_db()
    return delivery if delivery.is_finished else None


def all_finished(event: Event) -> bool:
    return not event.deliveries.exclude(status__in=["succeeded", "failed"]).exists()


def test_event_fans_out_to_the_matching_webhooks_only(
    worker, receivers, tenants, django_user_model
):
    # Given webhooks of every scope around an event of the east-sub account
    r = receivers(secret=TEST_SECRET)
    acct = tenants["east_sub_acct"]

    def hook(path, **kw):
        return WebhookFactory(payload_url=f"{r.url}/{path}", **kw)

    hook("local-own", account=acct, scope=Scope.LOCAL)
    hook("local-other", account=tenants["east_acct"], scope=Scope.LOCAL)
    hook("domain-parent", account=tenants["east_acct"], scope=Scope.DOMAIN)
    hook("domain-sibling", account=tenants["west_acct"], scope=Scope.DOMAIN)
    hook("global", account=tenants["root_acct"], scope=Scope.GLOBAL)
    hook("global-filtered", account=tenants["root_acct"], scope=Scope.GLOBAL, event_types=["NET.*"])
    hook("global-vm", account=tenants["root_acct"], scope=Scope.GLOBAL, event_types=["VM.*"])
    hook("disabled", account=acct, scope=Scope.GLOBAL, enabled=False)
    admin = django_user_model.objects.create_superuser("ops", password="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=admin)[1]}")

    # When the event is published over the REST API
    response = client.post(
        "/api/v1/events/",
        {
            "type": "VM.CREATE",
            "account": str(acct.id),
            "data": {"name": "vm-1"},
            "resource": {"id": "vm-1", "type": "VirtualMachine"},
        },
        format="json",
    )

    # Then exactly the four matching webhooks are delivered to, each once
    assert response.status_code == 202, response.content
    assert response.json()["deliveries"] == 4
    event = Event.objects.get(id=response.json()["id"])
    wait_until(lambda: all_finished(event), message="deliveries to finish")
    received = r.wait_for(4)
    assert sorted(x.path for x in received) == [
        "/domain-parent",
        "/global",
        "/global-vm",
        "/local-own",
    ]
    assert set(event.deliveries.values_list("status", flat=True)) == {"succeeded"}
    body = received[0].json
    assert body["id"] == str(event.id) and body["type"] == "VM.CREATE"
    assert body["account"] == str(acct.id) and body["domain"] == str(acct.domain_id)
    assert body["resource"] == {"id": "vm-1", "type": "VirtualMachine"}
    assert body["data"] == {"name": "vm-1"}


def test_signatures_verify_with_the_standard_webhooks_library(worker, receivers, tenants):
    # Given a Standard Webhooks webhook and a CloudStack-style one
    r = receivers(secret=TEST_SECRET)
    acct = tenants["east_acct"]
    WebhookFactory(payload_url=f"{r.url}/std", account=acct)
    WebhookFactory(payload_url=f"{r.url}/cs", account=acct, header_style=HeaderStyle.CLOUDSTACK)

    # When an event is published from Python
    result = event_publish(type="VM.STOP", data={"force": True}, account=acct)

    # Then the receiver's copy verifies with the standardwebhooks library,
    # and the CloudStack one carries CloudStack's headers and a valid signature
    received = {x.path: x for x in r.wait_for(2)}
    std = received["/std"]
    verified = StandardWebhook(TEST_SECRET).verify(std.body, std.headers)
    assert verified["id"] == str(result.event.id)
    assert std.headers["webhook-id"] == str(result.event.id)
    assert std.signature == "valid"
    cs = received["/cs"]
    assert cs.headers["x-cs-event-id"] == str(result.event.id)
    assert cs.headers["x-cs-event"] == "VM.STOP"
    assert cs.headers["user-agent"] == f"CS-Hookshot/{acct.id}"
    assert cs.signature == "valid"
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(TEST_SECRET).verify(std.body + b" ", std.headers)


def test_failing_twice_then_200_records_three_attempts_and_succeeds(worker, receivers, tenants):
    # Given a receiver that answers 500, 500, then 200
    answers = iter([500, 500, 200])
    r = receivers(secret=TEST_SECRET, responder=lambda got: always(next(answers))(got))
    acct = tenants["east_acct"]
    WebhookFactory(payload_url=f"{r.url}/flaky", account=acct, max_attempts=5)

    # When an event is published
    event = event_publish(type="VM.CREATE", data={}, account=acct).event

    # Then the delivery succeeds on the third attempt, all three recorded
    delivery = wait_until(lambda: finished(event.deliveries.get()), message="delivery to finish")
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 3
    assert delivery.last_status_code == 200
    attempts = list(delivery.attempt_set.order_by("number"))
    assert [a.number for a in attempts] == [1, 2, 3]
    assert [a.response_status for a in attempts] == [500, 500, 200]
    assert all(a.request_headers["webhook-id"] == str(event.id) for a in attempts)
    # Every try is signed afresh and verifies; the message id never changes
    received = r.received
    assert len(received) == 3
    assert {x.headers["webhook-id"] for x in received} == {str(event.id)}
    assert [x.signature for x in received] == ["valid"] * 3


def test_a_dead_receiver_ends_failed_after_max_attempts(worker, tenants):
    # Given a webhook whose receiver is not listening at all
    acct = tenants["east_acct"]
    WebhookFactory(payload_url="http://127.0.0.1:9/closed", account=acct, max_attempts=3)

    # When an event is published
    event = event_publish(type="VM.CREATE", data={}, account=acct).event

    # Then the delivery fails after exactly three recorded attempts
    delivery = wait_until(lambda: finished(event.deliveries.get()), message="delivery to fail")
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 3
    assert delivery.next_attempt_at is None and delivery.finished_at is not None
    attempts = list(delivery.attempt_set.all())
    assert len(attempts) == 3
    assert {a.error_class for a in attempts} == {"ConnectionError"}
    assert "ConnectionError" in delivery.last_error


def test_a_rolled_back_transaction_sends_nothing(worker, receivers, tenants):
    r = receivers()
    acct = tenants["east_acct"]
    WebhookFactory(payload_url=f"{r.url}/hook", account=acct)

    # When a producer publishes inside a transaction that then fails
    with pytest.raises(RuntimeError), transaction.atomic():
        event_publish(type="VM.ROLLEDBACK", data={}, account=acct)
        raise RuntimeError("the producer's own work failed")

    # And a later event goes through the same worker to the same receiver
    control = event_publish(type="VM.COMMITTED", data={}, account=acct).event
    wait_until(lambda: all_finished(control), message="the control event")

    # Then only the committed event was stored and sent
    assert [x.json["type"] for x in r.received] == ["VM.COMMITTED"]
    assert not Event.objects.filter(type="VM.ROLLEDBACK").exists()
    assert Delivery.objects.count() == 1


def test_a_lost_enqueue_is_delivered_by_the_sweeper(worker, receivers, tenants, redis_url):
    r = receivers()
    acct = tenants["east_acct"]
    WebhookFactory(payload_url=f"{r.url}/hook", account=acct)

    # Given the queue message is lost (worker down, then Redis flushed)
    worker.stop()
    event = event_publish(type="VM.CREATE", data={}, account=acct).event
    assert queue.flush(timeout=10)  # its message is in Redis...
    redis.Redis.from_url(redis_url).flushdb()  # ...and lost with it
    worker.start()
    time.sleep(1.5)
    assert r.received == [], "the message should have been lost"
    assert event.deliveries.get().status == DeliveryStatus.PENDING

    # When the sweeper runs (beat runs it every WEBHOOK_SWEEP_INTERVAL)
    sweep.delay()

    # Then the delivery is sent after all
    delivery = wait_until(lambda: finished(event.deliveries.get()), message="sweeper delivery")
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert len(r.wait_for(1)) == 1


def test_a_worker_killed_mid_request_does_not_lose_the_delivery(worker, receivers, tenants):
    # Given a receiver that hangs on the first request (the worker is stuck in it)
    first_request = threading.Event()

    def responder(got):
        if not first_request.is_set():
            first_request.set()
            time.sleep(1.5)
        return 200, b"{}"

    r = receivers(responder=responder)
    acct = tenants["east_acct"]
    WebhookFactory(payload_url=f"{r.url}/hook", account=acct, max_attempts=3)
    event = event_publish(type="VM.CREATE", data={}, account=acct).event
    assert first_request.wait(15), "the first request never arrived"

    # When the worker is killed with SIGKILL mid-request, and started again
    worker.kill()
    delivery = event.deliveries.get()
    assert delivery.status == DeliveryStatus.SENDING
    worker.start()

    # Then once the claim's lease runs out, the sweeper records the lost
    # attempt and the retry succeeds: final state, recorded, not lost.
    def swept_and_done():
        sweep.delay()
        return finished(event.deliveries.get())

    delivery = wait_until(swept_and_done, timeout=40, every=1, message="recovery")
    assert delivery.status == DeliveryStatus.SUCCEEDED
    attempts = list(delivery.attempt_set.order_by("number"))
    assert [a.number for a in attempts] == [1, 2]
    assert attempts[0].error_class == "WorkerLost"
    assert attempts[1].response_status == 200
    assert {x.headers["webhook-id"] for x in r.received} == {str(event.id)}


def test_purge_task_keeps_exactly_the_newest_finished_deliveries(worker, tenants):
    from tests.factories import DeliveryFactory, EventFactory

    # Given 14 finished deliveries and 2 old pending ones for one webhook
    acct = tenants["east_acct"]
    webhook = WebhookFactory(account=acct)
    finished_ids = []
    for i in range(14):
        d = DeliveryFactory(
            webhook=webhook,
            event=EventFactory(account=acct),
            status=DeliveryStatus.SUCCEEDED,
            attempts=1,
        )
        Delivery.objects.filter(id=d.id).update(
            created_at=d.created_at.replace(microsecond=0)
            - __import__("datetime").timedelta(minutes=60 - i)
        )
        DeliveryAttempt.objects.create(delivery=d, number=1, started_at=d.created_at, url="x")
        finished_ids.append(d.id)
    pending = [
        DeliveryFactory(
            webhook=webhook, event=EventFactory(account=acct), status=DeliveryStatus.PENDING
        ).id
        for _ in range(2)
    ]
    Delivery.objects.filter(id__in=pending).update(
        created_at=Delivery.objects.order_by("created_at").first().created_at
    )

    # When the purge task runs on the worker (WEBHOOK_DELIVERIES_KEEP=10)
    purge.delay()

    # Then the 10 newest finished and both pending deliveries remain
    wait_until(lambda: Delivery.objects.count() == 12, message="purge")
    remaining = set(Delivery.objects.values_list("id", flat=True))
    assert remaining == set(finished_ids[4:]) | set(pending)
    assert DeliveryAttempt.objects.count() == 10


def test_a_worker_survives_its_database_connections_being_cut(worker, receivers, tenants):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("cutting server-side connections needs PostgreSQL")
    r = receivers()
    acct = tenants["east_acct"]
    WebhookFactory(payload_url=f"{r.url}/hook", account=acct)
    # Ten messages at once: both pool processes run tasks, so both hold a
    # database connection when they are cut (a claim that finds nothing
    # still connects).
    with transaction.atomic():
        for _ in range(10):
            event_publish(type="VM.WARMUP", data={}, account=acct)
    r.wait_for(10)
    wait_until(
        lambda: not Delivery.objects.exclude(status="succeeded").exists(),
        message="warm-up deliveries to be recorded",
    )

    # Given the worker's connections are cut, as a database restart would
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    # When the next event is published
    event = event_publish(type="VM.CREATE", data={}, account=acct).event

    # Then the worker reconnects and delivers it, with no sweeper involved
    delivery = wait_until(
        lambda: finished(event.deliveries.get()),
        timeout=15,
        message="delivery after the connections were cut",
    )
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert [x.json["type"] for x in r.received][-1] == "VM.CREATE"
