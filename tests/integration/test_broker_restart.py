"""A worker outlives its broker: a private Redis killed and restarted empty,
several times, while a real worker is busy sending to a real receiver.

Before webhooks_project/broker.py the worker exited on the first or second
restart (`AttributeError: 'NoneType' object has no attribute 'hostname'`
from kombu's Redis transport) and nothing was delivered after that.
"""

from __future__ import annotations

import time

import pytest
from celery import Celery
from django.utils import timezone

from deliveries.models import Delivery, DeliveryStatus
from tests.factories import DeliveryFactory, EventFactory, WebhookFactory
from tests.live import CeleryProcess, free_port, wait_until, worker_env
from webhooks_project.redis_server import start_redis

from .conftest import WORKER_SETTINGS

pytestmark = pytest.mark.integration

RESTARTS = 4
PER_ROUND = 24


class PrivateRedis:
    """A redis-server of this test's own, on a free port, killed at will."""

    def __init__(self, workdir):
        self.url = f"redis://127.0.0.1:{free_port()}/0"
        self.workdir = workdir
        self.process = start_redis(self.url, workdir=workdir, log=lambda _: None)

    def restart_empty(self, down_for: float = 0.5) -> None:
        self.kill()
        time.sleep(down_for)
        self.process = start_redis(self.url, workdir=self.workdir, log=lambda _: None)

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no goodbye to the connected clients
        self.process.wait(timeout=10)


def more_than(items: list, count: int):
    return lambda: len(items) > count


def succeeded(count: int):
    return lambda: Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == count


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis")
    yield server
    server.kill()


@pytest.fixture
def stack(private_redis, django_db_setup, transactional_db, settings, tmp_path, request):
    """A worker and beat (whose sweeper re-queues what an emptied Redis lost)
    on the private Redis, as `make run` runs them (gossip, mingle, heartbeat on)."""
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = True
    # This drill is about the broker: a receiver slowed by a loaded machine
    # must not open its circuit and hold the deliveries the test waits for.
    drill = {**WORKER_SETTINGS, "WEBHOOK_CIRCUIT_FAILURES": "1000", "WEBHOOK_CONNECT_TIMEOUT": "5"}
    env = worker_env(drill, redis_url=private_redis.url, var_dir=tmp_path)
    worker = CeleryProcess("worker", env, tmp_path, like_make_run=True)
    beat = CeleryProcess("beat", env, tmp_path)
    worker.start()
    beat.start(ready_marker="beat: Starting")
    yield worker
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"--- worker log ---\n{worker.log_tail(120)}")
    beat.stop()
    worker.stop()


def test_a_worker_keeps_delivering_through_redis_restarts(stack, private_redis, receivers, tenants):
    # Given a busy worker: each request takes a little while, so tasks are
    # running and messages unacknowledged whenever Redis goes away
    r = receivers(responder=lambda _: (time.sleep(0.05), (200, b"{}"))[1])
    acct = tenants["east_acct"]
    webhook = WebhookFactory(payload_url=f"{r.url}/hook", account=acct)
    producer = Celery(broker=private_redis.url, set_as_current=False)
    published: list[Delivery] = []

    for round_ in range(RESTARTS):
        # When a burst is queued and Redis is killed and restarted empty mid-burst
        batch = [
            DeliveryFactory(
                webhook=webhook,
                event=EventFactory(account=acct),
                next_attempt_at=timezone.now(),
                message_due_at=timezone.now(),
            )
            for _ in range(PER_ROUND)
        ]
        published += batch
        arrived = len(r.received)
        for delivery in batch:
            producer.send_task("deliveries.tasks.deliver", args=[[str(delivery.id)]])
        wait_until(more_than(r.received, arrived), message="the burst to start arriving")
        private_redis.restart_empty()

        # Then the same worker delivers everything published so far
        wait_until(
            succeeded(len(published)),
            timeout=30,
            message=f"round {round_ + 1}'s deliveries after a Redis restart",
        )
        assert stack.running, f"the worker exited after restart {round_ + 1}"

    log = stack.log_path.read_text(errors="replace")
    assert "Unrecoverable error" not in log
    assert "Connection to broker lost" in log  # it did see every restart
    assert {received.path for received in r.received} == {"/hook"}
    assert stack.runs == 1
    producer.close()
