"""Issue 10, item 6: a broker outage is said once when it starts and once when
it ends, with the count of deliveries left to the sweeper; no traceback per
publish. The broker is real: a Redis URL on a closed port, then the tests' Redis."""

from __future__ import annotations

import logging
import socket

import pytest
from celery import Celery
from django.conf import settings
from django.utils import timezone

from deliveries import queue
from deliveries.models import Delivery
from tests.factories import DeliveryFactory
from webhooks_project.celery import app as celery_app


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


@pytest.fixture
def unreachable_broker(monkeypatch):
    # Not set as current: every other test must keep the real app.
    app = Celery("unreachable", broker=f"redis://127.0.0.1:{closed_port()}/0", set_as_current=False)
    app.conf.task_publish_retry_policy = settings.CELERY_TASK_PUBLISH_RETRY_POLICY
    monkeypatch.setattr(queue, "current_app", app)
    monkeypatch.setattr(queue, "broker", queue._Broker())
    return app


# Committed rows: the wake-up thread marks them through its own connection.
@pytest.mark.django_db(transaction=True)
def test_an_outage_is_said_once_each_way_with_a_count(
    unreachable_broker, monkeypatch, caplog, redis_url, settings
):
    settings.WEBHOOK_BATCH_SIZE = 2
    now = timezone.now()
    deliveries = DeliveryFactory.create_batch(5, next_attempt_at=now, message_due_at=now)
    ids = [d.id for d in deliveries]

    # When three publishes (up to five messages) find the broker away
    with caplog.at_level(logging.INFO, logger="deliveries.queue"):
        queue.deliveries_enqueue(ids[:3])
        queue.deliveries_enqueue(ids[3:4])
        queue.deliveries_enqueue(ids[4:])
        assert queue.flush(timeout=30)
        down = [r for r in caplog.records if r.name == "deliveries.queue"]

        # and then one finds it back
        monkeypatch.setattr(queue, "current_app", celery_app)
        queue.deliveries_enqueue([])
        queue.deliveries_enqueue(ids[:1])
        assert queue.flush(timeout=30)
        back = [r for r in caplog.records if r.name == "deliveries.queue"][len(down) :]

    # Then one warning said it went, without a traceback, and one that it is back
    assert len(down) == 1 and down[0].levelno == logging.WARNING and down[0].exc_info is None
    assert "broker unreachable" in down[0].getMessage()
    assert "sweeper will queue them" in down[0].getMessage()
    assert len(back) == 1
    assert "5 deliveries were left to the sweeper" in back[0].getMessage()
    # and the deliveries wait for the sweeper: no message in flight
    assert Delivery.objects.filter(id__in=ids[1:], message_due_at__isnull=True).count() == 4
