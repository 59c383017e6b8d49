"""A webhook's activity (deliveries.selectors.webhook_activity) and its chart
(console.charts)."""

import datetime as dt

from django.utils import timezone

from console.charts import activity_svg
from deliveries.selectors import Bucket, webhook_activity
from tests.console.kit import deliveries
from tests.factories import DeliveryAttemptFactory


def test_activity_buckets_count_outcomes_and_durations_by_hour(hooks):
    now = timezone.now()
    made = deliveries(hooks["east"], succeeded=2, failed=1, pending=1)
    DeliveryAttemptFactory(delivery=made[0], number=1, duration_ms=10, started_at=now)
    DeliveryAttemptFactory(delivery=made[1], number=1, duration_ms=30, started_at=now)
    buckets = webhook_activity(hooks["east"], now=now)
    assert len(buckets) == 24
    last = buckets[-1]
    assert (last.succeeded, last.failed, last.pending) == (2, 1, 1)
    assert (last.avg_ms, last.max_ms) == (20, 30)
    assert all(b.succeeded == 0 and b.avg_ms is None for b in buckets[:-1])


def test_the_activity_chart_draws_bars_and_the_latency_line():
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    buckets = [
        Bucket(start=start + dt.timedelta(hours=i), succeeded=i, failed=1, avg_ms=5.0 * i, max_ms=9)
        for i in range(4)
    ]
    svg = activity_svg(buckets)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('fill="#2e7d32"><title>') == 3  # hours with successes
    assert svg.count('fill="#c62828"><title>') == 4
    assert "<polyline" in svg and "nan" not in svg.lower()
    assert "00:00" in svg and ">5 ms<" not in svg and ">20 ms<" in svg
    assert activity_svg([Bucket(start=start)]).count("<rect") == 1 + 4  # frame and legend
