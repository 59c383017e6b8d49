"""Signs of life: worker heartbeats, the sweeper's and the purge's last runs."""

import datetime as dt

import pytest
from django.utils import timezone

from deliveries import liveness, tasks
from deliveries.liveness import PurgeRun, WorkerBeat
from deliveries.models import Heartbeat
from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


def seconds(n):
    return dt.timedelta(seconds=n)


def test_nothing_has_beaten_yet():
    assert liveness.workers_alive() == []
    assert liveness.beat_last_sweep() is None
    assert liveness.last_purge() is None


def test_a_worker_is_alive_while_its_beats_are_fresh(settings):
    settings.WORKER_HEARTBEAT_STALE_AFTER = 30
    now = timezone.now()
    # given two worker nodes that beat 5 s and 40 s ago
    liveness.worker_beat(hostname="w1@a", pid=11, now=now - seconds(5))
    liveness.worker_beat(hostname="w2@b", pid=22, now=now - seconds(40))

    # then only the fresh one counts as alive
    assert liveness.workers_alive(now=now) == [WorkerBeat("w1@a", 11, now - seconds(5))]

    # when the stale one beats again, it is back
    liveness.worker_beat(hostname="w2@b", pid=22, now=now)
    assert [b.hostname for b in liveness.workers_alive(now=now)] == ["w2@b", "w1@a"]


def test_a_beat_overwrites_its_row_instead_of_adding_one():
    now = timezone.now()
    for n in range(3):
        liveness.worker_beat(hostname="w1@a", pid=11, now=now + seconds(n))
    assert Heartbeat.objects.count() == 1
    assert liveness.workers_alive(now=now + seconds(2))[0].last_seen == now + seconds(2)


def test_a_worker_that_died_long_ago_is_forgotten_by_the_next_beat():
    now = timezone.now()
    liveness.worker_beat(hostname="dead@a", pid=1, now=now - dt.timedelta(hours=2))
    liveness.worker_beat(hostname="w1@a", pid=11, now=now)
    assert list(Heartbeat.objects.values_list("hostname", flat=True)) == ["w1@a"]


def test_a_worker_that_shuts_down_is_absent_at_once():
    liveness.worker_beat(hostname="w1@a", pid=11)
    liveness.worker_forget(hostname="w1@a", pid=11)
    assert liveness.workers_alive() == []


def test_the_sweep_task_records_when_it_ran():
    before = timezone.now()
    tasks.sweep()
    assert before <= liveness.beat_last_sweep() <= timezone.now()


def test_the_purge_task_records_its_run_and_the_rows_it_deleted(settings):
    settings.WEBHOOK_DELIVERIES_KEEP = 0
    settings.WEBHOOK_DELIVERIES_MAX_AGE_DAYS = 1
    old = DeliveryFactory(status="succeeded")
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=2))

    tasks.purge()

    run = liveness.last_purge()
    assert isinstance(run, PurgeRun)
    assert run.rows_deleted == 1  # the delivery; its event is under an hour old and stays
    assert timezone.now() - run.finished_at < seconds(5)

    # a second run that finds nothing says so
    tasks.purge()
    assert liveness.last_purge().rows_deleted == 0
