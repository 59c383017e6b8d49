"""Counting where the work happens: labels, batch increments, metric files."""

import datetime as dt
import os
import subprocess
import sys

import pytest
from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from deliveries import metrics
from deliveries.http import ErrorClass, SendResult
from deliveries.models import DeliveryStatus
from deliveries.pipeline.outcome import Outcome, Verdict
from deliveries.pipeline.record import attempt_build, outcomes_record
from tests.factories import DeliveryFactory


def outcome(status, verdict=Verdict.DELIVERED):
    return Outcome(
        status=status,
        next_attempt_at=None,
        finished_at=None,
        last_status_code=None,
        last_error="",
        retry_in=None,
        verdict=verdict,
    )


@pytest.mark.parametrize(
    ("status", "verdict", "name"),
    [
        (DeliveryStatus.SUCCEEDED, Verdict.DELIVERED, "succeeded"),
        (DeliveryStatus.FAILED, Verdict.REFUSED, "failed"),
        (DeliveryStatus.PENDING, Verdict.RETRY, "retry"),
        (DeliveryStatus.PENDING, Verdict.THROTTLED, "retry"),
        (DeliveryStatus.PENDING, Verdict.GONE, "held"),
    ],
)
def test_outcome_names(status, verdict, name):
    assert metrics.outcome_name(outcome(status, verdict)) == name


@pytest.mark.parametrize(
    ("result", "label"),
    [
        (SendResult(status_code=204), "2xx"),
        (SendResult(status_code=503), "5xx"),
        (SendResult(status_code=404, error_class=ErrorClass.HTTP), "4xx"),
        (SendResult(error_class=ErrorClass.TIMEOUT), "Timeout"),
        (SendResult(error_class=ErrorClass.WORKER_LOST), "WorkerLost"),
    ],
)
def test_result_classes_are_a_bounded_set(result, label, db):
    delivery = DeliveryFactory.build(attempts=1)
    attempt = attempt_build(delivery, "http://x/", [], result, timezone.now())
    assert metrics.result_class(attempt) == label


def value(metric, *labels):
    return (metric.labels(*labels) if labels else metric)._value.get()


def histogram_count(histogram):
    # The +Inf bucket: every observation (the process's own, in its files).
    return sum(b.get() for b in histogram._buckets)


@pytest.mark.django_db
def test_recording_a_batch_counts_outcomes_classes_durations_and_lag():
    now = timezone.now()
    published = now - dt.timedelta(seconds=3)
    deliveries = [DeliveryFactory(status=DeliveryStatus.SENDING, attempts=1) for _ in range(3)]
    for d in deliveries:
        type(d.event).objects.filter(pk=d.event.pk).update(created_at=published)
        d.event.refresh_from_db()
    results = [SendResult(status_code=200, duration_ms=40)] * 2 + [
        SendResult(error_class=ErrorClass.TIMEOUT, duration_ms=2000)
    ]
    outcomes = [outcome(DeliveryStatus.SUCCEEDED)] * 2 + [
        outcome(DeliveryStatus.PENDING, Verdict.RETRY)
    ]
    batch = [
        (d, attempt_build(d, "http://x/", [], r, now), o)
        for d, r, o in zip(deliveries, results, outcomes, strict=True)
    ]
    before = (
        value(metrics.delivery_outcomes_total, "succeeded"),
        value(metrics.delivery_outcomes_total, "retry"),
        value(metrics.attempts_total, "2xx"),
        value(metrics.attempts_total, "Timeout"),
        histogram_count(metrics.attempt_duration_seconds),
        histogram_count(metrics.delivery_lag_seconds),
        metrics.delivery_lag_seconds._sum.get(),
    )

    outcomes_record(None, batch)

    after = (
        value(metrics.delivery_outcomes_total, "succeeded"),
        value(metrics.delivery_outcomes_total, "retry"),
        value(metrics.attempts_total, "2xx"),
        value(metrics.attempts_total, "Timeout"),
        histogram_count(metrics.attempt_duration_seconds),
        histogram_count(metrics.delivery_lag_seconds),
        metrics.delivery_lag_seconds._sum.get(),
    )
    deltas = [a - b for a, b in zip(after, before, strict=True)]
    assert deltas[:6] == [2, 1, 2, 1, 3, 2]  # the lag only of what was delivered
    assert 6 <= deltas[6] < 8  # two deliveries, about 3 s after their publish each


def test_counters_go_to_per_process_files_named_with_host_and_pid(settings):
    metrics.events_published(0)
    files = os.listdir(settings.PROMETHEUS_MULTIPROC_DIR)
    assert f"counter_{metrics.HOST}-{os.getpid()}.db" in files
    assert "_" not in metrics.HOST


def dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def counted(path) -> dict:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
    }


def test_the_files_of_dead_processes_are_folded_and_the_totals_stay(tmp_path):
    key = mmap_key("webhooks_attempts", "webhooks_attempts_total", ["result"], ["2xx"], "h")
    dead, alive = dead_pid(), os.getpid()

    def write(name, value):
        f = MmapedDict(str(tmp_path / name))
        f.write_value(key, value, 0.0)
        f.close()

    write(f"counter_{metrics.HOST}-{dead}.db", 5)
    write(f"counter_{metrics.HOST}-{alive}.db", 2)
    write(f"counter_otherhost-{dead}.db", 1)  # another container's: its own business
    before = counted(tmp_path)

    assert metrics.dead_processes_fold(str(tmp_path)) == 1
    write(f"counter_{metrics.HOST}-{dead}.db", 3)  # that pid lived and died again
    assert metrics.dead_processes_fold(str(tmp_path)) == 1

    assert sorted(p.name for p in tmp_path.glob("*.db")) == sorted(
        [
            f"counter_{metrics.HOST}-archive.db",
            f"counter_{metrics.HOST}-{alive}.db",
            f"counter_otherhost-{dead}.db",
        ]
    )
    total = ("webhooks_attempts_total", (("result", "2xx"),))
    assert before[total] == 8
    assert counted(tmp_path)[total] == 11  # 5 + 3 folded, 2 alive, 1 elsewhere


@pytest.mark.django_db
def test_counting_never_queries(django_assert_num_queries):
    delivery = DeliveryFactory(status=DeliveryStatus.SENDING, attempts=1)
    bare = type(delivery).objects.get(pk=delivery.pk)  # its event not loaded
    attempt = attempt_build(bare, "http://x/", [], SendResult(status_code=200), timezone.now())
    lagged = histogram_count(metrics.delivery_lag_seconds)

    with django_assert_num_queries(0):
        metrics.attempts_count(
            [(bare, attempt, outcome(DeliveryStatus.SUCCEEDED))], now=timezone.now()
        )

    assert histogram_count(metrics.delivery_lag_seconds) == lagged  # no lag without its event
