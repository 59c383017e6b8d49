"""The console pages an operator uses, requested through Django's test
client with every SQL query timed, and the checks on those queries (counts
without a LIMIT, rows fetched one by one)."""

from __future__ import annotations

import math
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from bench.changelist_fill import EVENT_TYPES, RARE_TYPE


@dataclass
class Query:
    sql: str
    params: Any
    ms: float


@dataclass
class Page:
    name: str
    url: str
    statuses: list[int] = field(default_factory=list)
    times_ms: list[float] = field(default_factory=list)
    queries: list[list[Query]] = field(default_factory=list)  # per timed request
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and all(s == 200 for s in self.statuses)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms) if self.times_ms else math.nan

    @property
    def slowest(self) -> Query | None:
        every = [q for run in self.queries for q in run]
        return max(every, key=lambda q: q.ms) if every else None

    @property
    def slowest_query_ms(self) -> float:
        """Median over the requests of each request's slowest query."""
        per_run = [max((q.ms for q in run), default=0.0) for run in self.queries]
        return statistics.median(per_run) if per_run else math.nan


@contextmanager
def recorded_queries() -> Iterator[list[Query]]:
    """Every query run through Django's connection, with its own wall time."""
    from django.db import connection

    queries: list[Query] = []

    def wrapper(execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            queries.append(Query(sql, params, (time.perf_counter() - started) * 1000))

    with connection.execute_wrapper(wrapper):
        yield queries


COUNT_RE = re.compile(r'SELECT COUNT\(\*\) AS "__count" FROM (\(|"(\w+)")', re.IGNORECASE)
BIG_TABLES = ("deliveries_delivery", "deliveries_event", "deliveries_deliveryattempt")
REPEATED = 10  # the same SQL this many times in one request: rows fetched one by one


def uncapped_counts(queries: Sequence[Query]) -> list[Query]:
    """Row counts (a paginator's or a changelist's) of a big table that no
    LIMIT bounds. A capped count is `COUNT(*) FROM (SELECT … LIMIT n)`."""
    out = []
    for q in queries:
        match = COUNT_RE.search(q.sql)
        if not match:
            continue
        if match.group(2) in BIG_TABLES or (match.group(1) == "(" and "LIMIT" not in q.sql):
            out.append(q)
    return out


def repeated(queries: Sequence[Query]) -> tuple[int, str]:
    """The statement run most often in one request, and how often."""
    counts = Counter(q.sql for q in queries)
    if not counts:
        return 0, ""
    sql, n = counts.most_common(1)[0]
    return n, sql


def measure(client: Any, page: Page, repeat: int) -> None:
    for i in range(repeat + 1):  # the first one warms caches up, untimed
        with recorded_queries() as queries:
            started = time.perf_counter()
            try:
                response = client.get(page.url)
            except Exception as exc:  # a crash in the view: report it, go on
                page.error = f"{type(exc).__name__}: {exc}"
                return
            elapsed = (time.perf_counter() - started) * 1000
        if i == 0:
            continue
        page.statuses.append(response.status_code)
        page.times_ms.append(elapsed)
        page.queries.append(list(queries))


@dataclass
class Samples:
    """Rows the pages are asked about."""

    webhook_id: str
    webhook_name: str
    failing_webhook_id: str
    common_type: str
    common_share: float
    rare_type: str
    rare_share: float
    event_id: str
    delivery_id: str


def pick_samples() -> Samples:
    from django.db import connection

    from deliveries.models import Delivery, DeliveryStatus, Event
    from hooks.models import Webhook

    webhooks = list(Webhook.objects.order_by("name").values_list("id", "name"))
    with connection.cursor() as c:
        # From the sampled statistics, not a GROUP BY over the whole table.
        c.execute(
            "SELECT most_common_vals::text::text[], most_common_freqs FROM pg_stats "
            "WHERE tablename = 'deliveries_event' AND attname = 'type'"
        )
        row = c.fetchone()
    freqs = dict(zip(row[0], row[1], strict=True)) if row else {}
    common = max(freqs, key=freqs.get) if freqs else EVENT_TYPES[0]
    # From the middle of the history: an id search must not find it on top.
    newest = Event.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    oldest = Event.objects.order_by("created_at").values_list("created_at", flat=True).first()
    halfway = oldest + (newest - oldest) / 2
    event = Event.objects.filter(created_at__gte=halfway).order_by("created_at").first()
    delivery = (
        Delivery.objects.filter(
            created_at__gte=halfway, status=DeliveryStatus.SUCCEEDED, attempts=3
        )
        .order_by("created_at")
        .first()
    ) or Delivery.objects.filter(created_at__gte=halfway).order_by("created_at").first()
    return Samples(
        webhook_id=str(webhooks[0][0]),
        webhook_name=webhooks[0][1],
        failing_webhook_id=str(webhooks[-1][0]),
        common_type=common,
        common_share=freqs.get(common, math.nan),
        rare_type=RARE_TYPE,
        rare_share=freqs.get(RARE_TYPE, 0.001),
        event_id=str(event.pk),
        delivery_id=str(delivery.pk),
    )


def pages_to_measure(s: Samples) -> list[Page]:
    import datetime as dt

    from django.urls import reverse
    from django.utils import timezone

    deliveries = reverse("admin:deliveries_delivery_changelist")
    events = reverse("admin:deliveries_event_changelist")
    webhooks = reverse("admin:hooks_webhook_changelist")
    # As DateFieldListFilter's "Today" link says it (USE_TZ, TIME_ZONE=UTC).
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    today_query = urlencode(
        {"created_at__gte": str(today), "created_at__lt": str(today + dt.timedelta(days=1))}
    )

    def q(**params: str) -> str:
        return f"{deliveries}?{urlencode(params)}"

    return [
        Page("deliveries", deliveries),
        Page("deliveries page 50", q(p="49")),
        Page("deliveries failed", q(status__exact="failed")),
        Page("deliveries of a webhook", q(webhook=s.webhook_id)),
        Page(
            f"deliveries type {s.common_type} ({s.common_share:.0%})", q(event_type=s.common_type)
        ),
        Page(f"deliveries type {s.rare_type} ({s.rare_share:.1%})", q(event_type=s.rare_type)),
        Page("deliveries search event id", q(q=s.event_id)),
        Page("deliveries today", f"{deliveries}?{today_query}"),
        Page("delivery page", reverse("admin:deliveries_delivery_change", args=[s.delivery_id])),
        Page("events", events),
        Page("event page", reverse("admin:deliveries_event_change", args=[s.event_id])),
        Page("webhooks (health 24 h)", webhooks),
        Page("webhooks failing", f"{webhooks}?health=failing"),
        Page("webhook page (chart)", reverse("admin:hooks_webhook_change", args=[s.webhook_id])),
    ]


def explain(query: Query) -> str:
    from django.db import connection

    with connection.cursor() as c:
        c.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query.sql}", query.params)
        return "\n".join(row[0] for row in c.fetchall())


def interpolated(query: Query) -> str:
    """The query with its parameters in, to paste into psql."""
    from django.db import connection
    from psycopg import ClientCursor

    connection.ensure_connection()
    with ClientCursor(connection.connection) as c:
        return c.mogrify(query.sql, query.params)
