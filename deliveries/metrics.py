"""Prometheus metrics counted where the work happens (docs/operations.md#metrics).

Every process (gunicorn workers, Celery's prefork children) counts into its
own memory-mapped files in PROMETHEUS_MULTIPROC_DIR (settings.py defaults it
to VAR_DIR/metrics); the web's /metrics (webhooks_project/metrics.py) adds
them up, so one scrape sees the whole host. Only counters and histograms
live here: gauges (backlog, liveness) are computed at scrape time
(deliveries/gauges.py), so a dead process leaves no stale gauge.

Counting is cheap and batched: one increment per distinct label value per
recorded batch and per histogram bucket touched (observe_many), never a
write per attempt.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import fcntl
import glob
import os
import socket
from collections import Counter as Tally
from collections.abc import Iterator, Sequence

from prometheus_client import Counter, Histogram, values
from prometheus_client.mmap_dict import MmapedDict

from deliveries.http import ErrorClass
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from deliveries.pipeline.outcome import Outcome, Verdict

# Files are named per process. A pid alone is not unique where containers
# share the directory (each has its own pid 1), so the host name is part of
# it; prometheus_client splits file names on "_", so it must hold none.
HOST = socket.gethostname().replace("_", "-")


def _process_id() -> str:
    return f"{HOST}-{os.getpid()}"


# Before any metric is made: whoever imported prometheus_client first (and
# before or after PROMETHEUS_MULTIPROC_DIR was set), values go to the files.
values.ValueClass = values.MultiProcessValue(process_identifier=_process_id)

SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LAG_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 14400, 86400)

events_published_total = Counter(
    "webhooks_events_published",
    "Events published, by the API or from Python (operational events too).",
)
deliveries_created_total = Counter(
    "webhooks_deliveries_created", "Deliveries created by published events (fan-out)."
)
delivery_outcomes_total = Counter(
    "webhooks_delivery_outcomes",
    "What each attempt made of its delivery: succeeded, failed (for good), retry, held.",
    ["outcome"],
)
attempts_total = Counter(
    "webhooks_attempts",
    "Attempts by result class: 2xx..5xx for an HTTP answer, else the error class.",
    ["result"],
)
attempt_duration_seconds = Histogram(
    "webhooks_attempt_duration_seconds",
    "Time of one attempt, request to response.",
    buckets=SECONDS,
)
delivery_lag_seconds = Histogram(
    "webhooks_delivery_lag_seconds",
    "From publish to the end of the attempt that delivered it (retries included).",
    buckets=LAG_SECONDS,
)
sweeper_requeued_total = Counter(
    "webhooks_sweeper_requeued", "Due deliveries the sweeper queued again (no message in flight)."
)
wakeup_messages_total = Counter(
    "webhooks_wakeup_messages",
    "Celery messages sent to wake workers (deliveries/queue.py), each up to"
    " WEBHOOK_BATCH_SIZE delivery ids: against deliveries created, how well they batch.",
)
sweeper_expired_leases_total = Counter(
    "webhooks_sweeper_expired_leases", "Claims whose lease ran out (a worker died mid-attempt)."
)
purge_deleted_total = Counter("webhooks_purge_deleted", "Rows the purge deleted.", ["table"])
api_request_duration_seconds = Histogram(
    "webhooks_http_request_duration_seconds",
    "Web requests by view name (never the raw path), method and status class.",
    ["view", "method", "status"],
    buckets=SECONDS,
)

# Every known label value exists from the start, at 0: a series that appears
# only at its first increment hides that increment from rate() and increase().
for _name in ("succeeded", "failed", "retry", "held"):
    delivery_outcomes_total.labels(_name)
for _name in (*(f"{n}xx" for n in range(1, 6)), *ErrorClass):
    attempts_total.labels(_name)
for _name in ("deliveries", "events"):
    purge_deleted_total.labels(_name)

_EVENT = Delivery._meta.get_field("event")

_OUTCOMES: dict[str, str] = {
    DeliveryStatus.SUCCEEDED: "succeeded",
    DeliveryStatus.FAILED: "failed",
}


def outcome_name(outcome: Outcome) -> str:
    """A delivery's outcome after one attempt, as the metric's label."""
    if outcome.status in _OUTCOMES:
        return _OUTCOMES[outcome.status]
    return "held" if outcome.verdict == Verdict.GONE else "retry"


def result_class(attempt: DeliveryAttempt) -> str:
    """An attempt's result as a bounded label: an HTTP status class or the error class."""
    if attempt.response_status is not None:
        return f"{attempt.response_status // 100}xx"
    return attempt.error_class or "unknown"


def attempts_count(
    results: Sequence[tuple[Delivery, DeliveryAttempt, Outcome]], *, now: dt.datetime
) -> None:
    """Count one recorded batch: one write per distinct label value or bucket."""
    outcomes: Tally[str] = Tally()
    classes: Tally[str] = Tally()
    durations, lags = [], []
    for delivery, attempt, outcome in results:
        name = outcome_name(outcome)
        outcomes[name] += 1
        classes[result_class(attempt)] += 1
        durations.append(attempt.duration_ms / 1000)
        # The pipeline loads each delivery's event; never a query here for it.
        if name == "succeeded" and _EVENT.is_cached(delivery):
            lags.append((now - delivery.event.created_at).total_seconds())
    for name, n in outcomes.items():
        delivery_outcomes_total.labels(name).inc(n)
    for name, n in classes.items():
        attempts_total.labels(name).inc(n)
    observe_many(attempt_duration_seconds, durations)
    observe_many(delivery_lag_seconds, lags)


def observe_many(histogram: Histogram, amounts: Sequence[float]) -> None:
    """`histogram.observe(a) for a in amounts`, with one write per bucket touched
    and one for the sum instead of two per value (a write takes a lock and
    touches the mmap: 50 observations cost ~0.5 ms). It uses the cells
    observe() uses (`_upper_bounds`, `_buckets`, `_sum`, the same since
    prometheus-client's first releases); tests/deliveries/test_metrics.py
    checks it against observe()."""
    if not amounts:
        return
    bounds = histogram._upper_bounds
    for index, n in Tally(bisect.bisect_left(bounds, a) for a in amounts).items():
        histogram._buckets[index].inc(n)
    histogram._sum.inc(sum(amounts))


def events_published(deliveries: int) -> None:
    events_published_total.inc()
    if deliveries:
        deliveries_created_total.inc(deliveries)


def sweep_count(*, requeued: int, expired: int) -> None:
    if requeued:
        sweeper_requeued_total.inc(requeued)
    if expired:
        sweeper_expired_leases_total.inc(expired)


def purge_count(*, deliveries: int, events: int) -> None:
    purge_deleted_total.labels("deliveries").inc(deliveries)
    purge_deleted_total.labels("events").inc(events)


@contextlib.contextmanager
def files_locked(path: str, *, exclusive: bool) -> Iterator[None]:
    """Scrapes read the files under a shared lock, a fold writes them under
    an exclusive one: no scrape sees a dead process's counts twice or not at all."""
    with open(os.path.join(path, ".fold.lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def dead_processes_fold(path: str | None = None) -> int:
    """Fold the metric files of this host's dead processes into the host's archive.

    Run at each process's start (deliveries/apps.py): a restarted gunicorn
    worker or Celery child would otherwise leave its files for ever, and the
    directory grow with every restart. Deleting them would make the host's
    totals drop, which Prometheus reads as a counter reset (and rate() as a
    burst of everything counted so far); added to `<type>_<host>-archive.db`
    instead, the totals never go down. Counters and histograms only: their
    values add up (there are no gauges in the files: deliveries/gauges.py).
    Files of other hosts (containers sharing the directory) are theirs.
    """
    path = path or os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    folded = 0
    with files_locked(path, exclusive=True):
        for typ in ("counter", "histogram"):
            dead = [
                name
                for name in glob.glob(os.path.join(path, f"{typ}_{HOST}-*.db"))
                if (pid := name.rsplit("-", 1)[-1][: -len(".db")]).isdigit()
                and not _alive(int(pid))
            ]
            if not dead:
                continue
            archive = MmapedDict(os.path.join(path, f"{typ}_{HOST}-archive.db"))
            try:
                for name in dead:
                    for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(name):
                        total, _ = archive.read_value(key)
                        archive.write_value(key, total + value, timestamp)
            finally:
                archive.close()
            for name in dead:
                os.remove(name)
            folded += len(dead)
    return folded


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
