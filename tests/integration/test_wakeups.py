"""Wake-ups batched per process (deliveries/queue.py, deliveries/wakeups.py),
end to end: publishing threads, Redis, a real worker, a real receiver; and a
forked child that publishes through its own wake-up thread."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from django.db import connection
from django.utils import timezone

from deliveries import queue
from deliveries.models import Delivery, DeliveryStatus
from deliveries.publishing import event_publish
from tests.factories import DeliveryFactory, EventFactory, WebhookFactory
from tests.live import wait_until

pytestmark = pytest.mark.integration

THREADS, EVENTS_EACH, WEBHOOKS = 4, 25, 2


def test_events_from_several_threads_arrive_with_fewer_messages_than_events(
    worker, receivers, tenants
):
    # Given two webhooks of an account
    r = receivers()
    acct = tenants["east_acct"]
    for n in range(WEBHOOKS):
        WebhookFactory(payload_url=f"{r.url}/hook-{n}", account=acct)
    before = queue.messages_sent()
    failures: list[BaseException] = []

    # When four threads publish 25 events each, as fast as they can
    def publish(thread: int) -> None:
        try:
            for n in range(EVENTS_EACH):
                event_publish(type="VM.CREATE", data={"thread": thread, "n": n}, account=acct)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert queue.flush(timeout=30)

    # Then every delivery reached the receiver, once
    events = THREADS * EVENTS_EACH
    received = r.wait_for(events * WEBHOOKS, timeout=60)
    # (the webhook-id is the event's: each of the two webhooks gets it once)
    assert len({(x.path, x.headers["webhook-id"]) for x in received}) == events * WEBHOOKS
    wait_until(
        lambda: (
            Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == events * WEBHOOKS
        ),
        timeout=30,
        message="every delivery recorded",
    )
    # and the publishes shared their wake-up messages
    messages = queue.messages_sent() - before
    print(f"{events} events, {events * WEBHOOKS} deliveries, {messages} wake-up messages")
    assert 0 < messages < events


def test_a_forked_child_wakes_the_worker_through_its_own_thread(worker, receivers, tenants):
    # Given committed deliveries, due, with this process's wake-up thread running
    r = receivers()
    acct = tenants["east_acct"]
    webhook = WebhookFactory(payload_url=f"{r.url}/hook", account=acct)
    now = timezone.now()
    control = event_publish(type="VM.CREATE", data={}, account=acct)
    assert queue.flush(timeout=10)
    r.wait_for(1)
    deliveries = [
        DeliveryFactory(
            webhook=webhook,
            event=EventFactory(account=acct),
            next_attempt_at=now,
            message_due_at=now,
        )
        for _ in range(3)
    ]

    # When a forked child (as gunicorn's workers are) queues their wake-up
    pid = os.fork()
    if pid == 0:  # the child touches no database connection, and leaves at once
        try:
            queue.deliveries_enqueue([d.id for d in deliveries])
            sent = queue.flush(timeout=10) and queue.messages_sent() == 1
        finally:
            os._exit(0 if sent else 1)
    reaped: list[int] = []

    def exited() -> bool:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            reaped.append(os.waitstatus_to_exitcode(status))
        return bool(done)

    try:
        wait_until(exited, timeout=20, message="the child to send and exit")
    finally:
        if not reaped:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert reaped == [0], "the child's wake-up was not sent"

    # Then the worker delivered them
    received = r.wait_for(1 + len(deliveries), timeout=30)
    assert control.delivery_count == 1 and len(received) == 1 + len(deliveries)
