"""deliveries/queue.py: which wake-ups go through the process's wake-up thread,
on its held producer, and which are sent at once; what a failed send and a
fork do to them. Batching itself: test_wakeups.py."""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import threading
import uuid

import pytest
import redis
from celery import Celery, current_app
from django.utils import timezone
from kombu.exceptions import OperationalError

from deliveries import metrics, queue
from deliveries.queue import DELIVER_TASK
from tests.factories import DeliveryFactory
from tests.live import wait_until


class SendTask:
    """Stands in for current_app.send_task: records who sent what, on which
    producer; the parent process's sends can be held at a gate."""

    def __init__(self) -> None:
        self.parent = os.getpid()
        self.calls: list[dict] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_next = 0

    def __call__(
        self, name, *, args, countdown=None, producer=None, argsrepr=None, kwargsrepr=None
    ):
        self.calls.append(
            {
                "pid": os.getpid(),
                "thread": threading.current_thread().name,
                "ids": args[0],
                "countdown": countdown,
                "producer": producer,
                "argsrepr": argsrepr,
            }
        )
        if os.getpid() == self.parent:
            self.gate.wait(10)
        if self.fail_next:
            self.fail_next -= 1
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    def ids(self, pid: int | None = None) -> list[list[str]]:
        return [c["ids"] for c in self.calls if pid is None or c["pid"] == pid]


@pytest.fixture
def send_task(monkeypatch):
    fake = SendTask()
    monkeypatch.setattr(current_app, "send_task", fake)
    yield fake
    fake.gate.set()


def test_published_ids_go_through_the_wakeup_thread_on_one_held_producer(send_task):
    # given
    first, second = uuid.uuid4(), uuid.uuid4()
    counted = metrics.wakeup_messages_total._value.get()
    before = queue.messages_sent()

    # when two publishes are queued, one after the other has gone
    queue.deliveries_enqueue([first])
    assert queue.flush(timeout=10)
    queue.deliveries_enqueue([second])
    assert queue.flush(timeout=10)

    # then each went from the wake-up thread, on the same producer, and was counted
    assert send_task.ids() == [[str(first)], [str(second)]]
    assert {c["thread"] for c in send_task.calls} == {"wakeups"}
    producers = {id(c["producer"]) for c in send_task.calls}
    assert len(producers) == 1 and send_task.calls[0]["producer"] is not None
    assert queue.messages_sent() - before == 2
    assert metrics.wakeup_messages_total._value.get() - counted == 2


def test_a_countdown_is_sent_at_once_by_the_caller(send_task):
    # when
    queue.deliveries_enqueue([uuid.uuid4()], countdown=3)

    # then without the wake-up thread: nothing to wait for
    assert [(c["thread"], c["countdown"], c["producer"]) for c in send_task.calls] == [
        (threading.current_thread().name, 3, None)
    ]


def test_what_a_workers_task_queues_is_sent_before_the_task_ends(send_task, monkeypatch):
    # given this thread runs a task a worker took (as the sweeper's does)
    monkeypatch.setattr(Celery, "current_worker_task", property(lambda app: object()))
    ids = [uuid.uuid4() for _ in range(3)]

    # when
    queue.deliveries_enqueue(ids)

    # then it was sent here and now, in messages of WEBHOOK_BATCH_SIZE
    assert send_task.ids() == [[str(i) for i in ids]]
    assert send_task.calls[0]["thread"] == threading.current_thread().name


@pytest.mark.django_db(transaction=True)  # the wake-up thread's connection sees committed rows
def test_a_failed_send_leaves_the_rows_to_the_sweeper_and_the_next_one_reconnects(send_task):
    # given
    now = timezone.now()
    delivery = DeliveryFactory(message_due_at=now, next_attempt_at=now)
    send_task.fail_next = 1

    # when the broker refuses one message, then takes the next
    queue.deliveries_enqueue([delivery.id])
    assert queue.flush(timeout=10)
    delivery.refresh_from_db()
    queue.deliveries_enqueue([delivery.id])
    assert queue.flush(timeout=10)

    # then the first left the row without a message, and the second went on a new producer
    assert delivery.message_due_at is None
    assert send_task.ids() == [[str(delivery.id)]] * 2
    first, second = (c["producer"] for c in send_task.calls)
    assert first is not None and second is not None and first is not second


def test_a_wakeup_reaches_redis_as_a_celery_task_message(redis_url):
    # given
    client = redis.Redis.from_url(redis_url)
    client.delete("celery")
    ids = [uuid.uuid4(), uuid.uuid4()]

    # when
    queue.deliveries_enqueue(ids)
    assert queue.flush(timeout=10)

    # then one message in Celery's protocol: the worker runs deliver(ids)
    [raw] = client.lrange("celery", 0, -1)
    client.delete("celery")
    message = json.loads(raw)
    assert message["headers"]["task"] == DELIVER_TASK
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert (args, kwargs) == ([[str(i) for i in ids]], {})
    # what Celery logs of it: how many ids, not each of them
    assert message["headers"]["argsrepr"] == "[<2 delivery ids>]"


def test_a_forked_child_sends_its_own_wakeups_and_not_the_parents(send_task):
    # given the parent's wake-up thread mid-send, with more ids held behind it
    mine, held, childs = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    send_task.gate.clear()
    queue.deliveries_enqueue([mine])
    wait_until(lambda: send_task.calls, timeout=10, message="the parent's send")
    queue.deliveries_enqueue([held])
    inherited = queue._held

    # when the process forks (a gunicorn worker, a Celery pool process) and
    # the child queues its own
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running pytest's exit
        try:
            queue.deliveries_enqueue([childs])
            report = {
                "flushed": queue.flush(timeout=10),
                "sent": send_task.ids(os.getpid()),
                "new_producer": queue._held is not inherited,
                "messages": queue.messages_sent(),
            }
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 20)
        report = json.loads(os.read(read_end, 65536)) if ready else None
    finally:
        os.close(read_end)
        if report is None:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    send_task.gate.set()
    assert queue.flush(timeout=10)

    # then the child sent only its own ids, on a thread and producer of its own
    assert report == {
        "flushed": True,
        "sent": [[str(childs)]],
        "new_producer": True,
        "messages": 1,
    }
    # and the parent sent all of its own
    assert send_task.ids(os.getpid()) == [[str(mine)], [str(held)]]
