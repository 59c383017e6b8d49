"""Counting where the work happens: labels, batch increments, metric files."""

import datetime as dt
import os
import subprocess
import sys

import pytest
from django.utils import timezone

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


def test_the_files_of_dead_processes_of_this_host_are_deleted(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    mine = f"counter_{metrics.HOST}-{os.getpid()}.db"
    gone = f"histogram_{metrics.HOST}-{dead}.db"
    other_host = f"counter_otherhost-{dead}.db"
    for name in (mine, gone, other_host):
        (tmp_path / name).write_bytes(b"")

    assert metrics.dead_processes_forget(str(tmp_path)) == 1

    assert sorted(os.listdir(tmp_path)) == sorted([mine, other_host])
