"""celery-beat with django-celery-beat's database scheduler, as `make run` runs it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from deliveries.models import Delivery, DeliveryStatus
from tests.factories import DeliveryFactory, EventFactory, WebhookFactory
from tests.live import CeleryProcess, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def beat(worker, celery_env, tmp_path):
    process = CeleryProcess("beat", celery_env, tmp_path)
    process.start(ready_marker="beat: Starting")
    yield process
    process.stop()


def test_beat_stores_the_schedule_and_its_sweeper_delivers_a_lost_delivery(
    beat, receivers, tenants
):
    started = timezone.now()

    # The schedule from settings is stored where operators can see and edit it
    wait_until(
        lambda: PeriodicTask.objects.filter(name="purge-deliveries").exists(),
        message="beat to store its schedule",
    )
    sweep_task = PeriodicTask.objects.get(name="sweep-deliveries")
    assert sweep_task.task == "deliveries.tasks.sweep"
    assert (sweep_task.interval.every, sweep_task.interval.period) == (1, "seconds")
    purge_task = PeriodicTask.objects.get(name="purge-deliveries")
    assert (purge_task.interval.every, purge_task.interval.period) == (3600, "seconds")
    # The purge first runs 180 s after beat starts (not a whole interval later)
    first_run = wait_until(
        lambda: PeriodicTask.objects.get(name="purge-deliveries").last_run_at,
        message="purge's first run to be set",
    ) + dt.timedelta(seconds=3600)
    assert abs((first_run - started).total_seconds() - 180) < 15

    # Given a delivery whose queue message was lost (none was ever sent)
    r = receivers()
    acct = tenants["east_acct"]
    delivery = DeliveryFactory(
        webhook=WebhookFactory(payload_url=f"{r.url}/hook", account=acct),
        event=EventFactory(account=acct),
        next_attempt_at=timezone.now(),
        message_due_at=None,
    )

    # Then beat's sweeper gets it delivered, with nobody calling it by hand
    def delivered():
        delivery.refresh_from_db()
        return delivery.status == DeliveryStatus.SUCCEEDED

    wait_until(delivered, timeout=20, message="the sweeper to deliver it")
    assert [x.path for x in r.received] == ["/hook"]
    assert Delivery.objects.get(id=delivery.id).attempt_set.count() == 1
