"""The operations console on a big delivery table, measured.

    python bench/changelist.py [--deliveries 1000000] [--webhooks 50] [--days 30]
                               [--repeat 5] [--keep] [--database-url URL]

Fills a PostgreSQL database with --deliveries deliveries (events fanned out
to 10 webhooks each, attempts for every delivery that started, created over
the last --days days) with set-based SQL, then requests the admin pages an
operator uses, in this process, through Django's test client logged in as a
superuser: each page once to warm up, then --repeat times. For each page it
prints the median and slowest response time, the SQL queries it ran and the
slowest of them; for a page slower than SLOW_PAGE_MS it prints that query's
plan (EXPLAIN ANALYZE, BUFFERS), so the cause is visible.

The exit status is 1 if a page did not answer 200, if a list page counted a
big table without a LIMIT, or if the delivery list's median is over
TARGET_CHANGELIST_MS.

The database named in --database-url (or $BENCH_DATABASE_URL) is dropped and
created again, unless --keep finds it filled by an earlier run: migrations
still run then, so a new index can be measured on the same rows.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from common import lock_database, machine_busy, recreate_database

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
TARGET_CHANGELIST_MS = 1000.0
SLOW_PAGE_MS = 300.0
FAN_OUT = 10  # webhooks per event
USERNAME = "bench-admin"
# Event types, most frequent first (picked with a skewed random draw), and
# one rare type on every 1000th event: the hard case for a filter on the
# event's type, which finds few rows in the delivery list's order.
EVENT_TYPES = [
    "VM.CREATE",
    "VM.START",
    "VM.STOP",
    "VM.DESTROY",
    "VOLUME.CREATE",
    "VOLUME.ATTACH",
    "VOLUME.DETACH",
    "VOLUME.DELETE",
    "SNAPSHOT.CREATE",
    "NETWORK.CREATE",
    "TEMPLATE.REGISTER",
    "USER.LOGIN",
]
RARE_TYPE = "ACCOUNT.DELETE"
# Failure rate of a webhook's receiver, by webhook number from the last one
# down: two failing, three degraded, the others healthy.
FAILING, DEGRADED = 2, 3
# Seconds from a delivery's creation to each attempt's start (the default
# retry schedule's first waits: 5 s, 5 min, 30 min).
ATTEMPT_OFFSETS = [0, 5, 305, 2105]

# --- options --------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Admin console response times on a big delivery table (PostgreSQL).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--deliveries", type=int, default=1_000_000, help="deliveries in all")
    p.add_argument("--webhooks", type=int, default=50, help="webhooks sharing them")
    p.add_argument(
        "--days", type=float, default=30, help="created_at spread (the default retention)"
    )
    p.add_argument("--repeat", type=int, default=5, help="timed requests per page")
    p.add_argument(
        "--keep",
        action="store_true",
        help="reuse the database if an earlier run filled it (same --deliveries, "
        "--webhooks, --days); migrations still run",
    )
    p.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/webhooks_changelist_bench",
        ),
        help="dropped and created again, unless --keep finds it filled",
    )
    args = p.parse_args(argv)
    for name in ("deliveries", "webhooks", "repeat"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    if args.days <= 1:
        p.error("--days must be more than 1 (the pages look at the last 24 h)")
    if args.webhooks < FAILING + DEGRADED + 1:
        p.error(f"--webhooks must be at least {FAILING + DEGRADED + 1}")
    parts = urlsplit(args.database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        p.error(f"{args.database_url}: PostgreSQL only (the plans are the point)")
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        p.error(f"{args.database_url}: the benchmark only talks to 127.0.0.1")
    return args


# --- the database ---------------------------------------------------------------


def open_database(url: str, *, keep: bool, fingerprint: str) -> tuple[Any, bool]:
    """Drop and create the benchmark database, or with `keep` reuse it when its
    comment says an earlier run filled it with the same parameters.

    Returns the maintenance connection, which holds an advisory lock named
    after the database until closed (bench/run.py takes the same lock), and
    whether the database must be filled.
    """
    conn, name = lock_database(url)
    try:
        if keep:
            row = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                (name,),
            ).fetchone()
            comment = json.loads(row[0]) if row and row[0] else {}
            if comment.get("fingerprint") == fingerprint:
                return conn, False
            print(f"--keep: {name} was not filled with these parameters; filling it again")
        recreate_database(conn, name)
    except BaseException:
        conn.close()
        raise
    return conn, True


def remember_fill(conn: Any, url: str, info: dict) -> None:
    """The fill's parameters and duration, as the database's comment: --keep
    reads them back."""
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    conn.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal(json.dumps(info))
        )
    )


def read_fill(conn: Any, url: str) -> dict:
    name = urlsplit(url).path.lstrip("/")
    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        (name,),
    ).fetchone()
    return json.loads(row[0]) if row and row[0] else {}


def setup_django(url: str, var_dir: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="webhooks_project.settings",
        DATABASE_URL=url,
        VAR_DIR=str(var_dir),
        LOG_LEVEL="WARNING",
        DEBUG="0",  # as in production; queries are timed by our own wrapper
    )
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


# --- filling --------------------------------------------------------------------


def create_tenants(webhooks: int) -> None:
    """A root admin, a small domain tree with accounts, and the webhooks."""
    from django.contrib.auth import get_user_model

    from hooks.models import Account, Domain, Membership, Role, Scope, Webhook
    from hooks.services import account_create, domain_create, generate_secret, root_domain

    root = root_domain()
    admin_account = account_create(name="admin", domain=root)
    user = get_user_model().objects.create_superuser(username=USERNAME, password=None)
    Membership.objects.create(user=user, account=admin_account, role=Role.ROOT_ADMIN)
    domains: list[Domain] = [root]
    for region in ("eu", "us", "apac"):
        parent = domain_create(name=region, parent=root)
        domains.append(parent)
        domains += [domain_create(name=f"{region}-{i}", parent=parent) for i in range(2)]
    accounts: list[Account] = [
        account_create(name=f"customer-{i}", domain=domains[i % len(domains)]) for i in range(20)
    ]
    scopes = [Scope.LOCAL] * 7 + [Scope.DOMAIN] * 2 + [Scope.GLOBAL]
    rows = []
    for i in range(webhooks):
        account = accounts[i % len(accounts)]
        rows.append(
            Webhook(
                name=f"hook-{i:03d}",
                description="bench",
                scope=scopes[i % len(scopes)],
                account=account,
                domain=account.domain,
                payload_url=f"https://receiver-{i}.example.com/webhooks/cloud",
                secret=generate_secret(),
            )
        )
    Webhook.objects.bulk_create(rows)


def fill(args: argparse.Namespace) -> None:
    """Events, deliveries and attempts, set-based: each table one INSERT …
    SELECT over generate_series. Ids are UUIDv7 made from created_at, as the
    application makes them, so the primary keys are in time order too."""
    from django.db import connection, transaction

    d, w = args.deliveries, args.webhooks
    fan_out = min(FAN_OUT, w)
    events = math.ceil(d / fan_out)
    params = {
        "d": d,
        "w": w,
        "f": fan_out,
        "events": events,
        "span": f"{args.days} days",
        "types": EVENT_TYPES,
        "rare": RARE_TYPE,
        "offsets": ATTEMPT_OFFSETS,
        "failing": FAILING,
        "degraded": DEGRADED,
    }
    steps: list[tuple[str, str]] = [
        (
            "helpers",
            """
            CREATE FUNCTION pg_temp.uuid7(ts timestamptz) RETURNS uuid AS $$
              SELECT (lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0')
                      || '7' || substr(replace(gen_random_uuid()::text, '-', ''), 14))::uuid
            $$ LANGUAGE sql VOLATILE;
            CREATE TEMP TABLE bench_now AS SELECT now() AS now;
            CREATE TEMP TABLE bench_wh AS
              SELECT (row_number() OVER (ORDER BY name) - 1)::int AS n, id, payload_url,
                     CASE WHEN row_number() OVER (ORDER BY name) > %(w)s - %(failing)s
                            THEN 0.7
                          WHEN row_number() OVER (ORDER BY name)
                               > %(w)s - %(failing)s - %(degraded)s THEN 0.15
                          ELSE 0.01 END AS fail_rate
              FROM hooks_webhook;
            CREATE TEMP TABLE bench_acc AS
              SELECT (row_number() OVER (ORDER BY name) - 1)::int AS n, id, domain_id
              FROM hooks_account;
            """,
        ),
        (
            "events",
            # created_at grows with seq (plus jitter), the newest a few
            # seconds ago: arrival order, as in production.
            """
            CREATE TEMP TABLE bench_ev AS
              SELECT g AS seq,
                     (SELECT now FROM bench_now) - %(span)s::interval
                       * (1 - (g + random() * 0.9) / %(events)s) AS created_at,
                     CASE WHEN g %% 1000 = 7 THEN %(rare)s
                          ELSE (%(types)s::text[])[1 + floor(power(random(), 2)
                               * cardinality(%(types)s::text[]))::int] END AS type
              FROM generate_series(0, %(events)s - 1) AS g;
            ALTER TABLE bench_ev ADD COLUMN id uuid;
            UPDATE bench_ev SET id = pg_temp.uuid7(created_at);
            INSERT INTO deliveries_event
              (id, type, account_id, domain_id, resource_id, resource_type, data,
               occurred_at, created_at)
            SELECT e.id, e.type, a.id, a.domain_id, 'res-' || (e.seq %% 5000),
                   split_part(e.type, '.', 1),
                   jsonb_build_object('seq', e.seq, 'zone', 'zone-' || (e.seq %% 7),
                                      'size_gb', e.seq %% 500, 'tags', jsonb_build_array('a', 'b')),
                   e.created_at - interval '150 ms', e.created_at
            FROM bench_ev e
            JOIN bench_acc a ON a.n = e.seq %% (SELECT count(*) FROM bench_acc);
            """,
        ),
        (
            "deliveries",
            # Each event goes to fan_out consecutive webhooks, rotating; the
            # last event gets fewer so the total is exactly --deliveries.
            # Status: the newest few minutes partly pending/sending; the
            # failing and degraded webhooks' recent ones partly waiting for a
            # retry; then failed at the webhook's failure rate, else succeeded.
            """
            CREATE TEMP TABLE bench_dl AS
            SELECT s.*,
                   CASE status
                     WHEN 'sending' THEN 0
                     WHEN 'pending' THEN attempts
                     ELSE attempts END AS recorded
            FROM (
              SELECT x.*,
                CASE
                  WHEN age < interval '1 minute' AND r < 0.2 THEN 'sending'
                  WHEN age < interval '5 minutes' AND r < 0.5 THEN 'pending'
                  WHEN fail_rate > 0.1 AND age < interval '10 hours' AND r < 0.2 THEN 'pending'
                  WHEN r < fail_rate THEN 'failed'
                  ELSE 'succeeded' END AS status,
                CASE
                  WHEN age < interval '1 minute' AND r < 0.2 THEN 1
                  WHEN age < interval '5 minutes' AND r < 0.5 THEN 0
                  WHEN fail_rate > 0.1 AND age < interval '10 hours' AND r < 0.2
                    THEN 1 + floor(r2 * 3)::int
                  WHEN r < fail_rate THEN 1 + floor(r2 * 4)::int
                  WHEN r2 < 0.9 THEN 1 WHEN r2 < 0.97 THEN 2 ELSE 3 END AS attempts
              FROM (
                SELECT e.seq, e.id AS event_id, wh.id AS webhook_id, wh.payload_url,
                       wh.fail_rate, e.created_at + j * interval '2 ms' AS created_at,
                       (SELECT now FROM bench_now) - e.created_at AS age,
                       random() AS r, random() AS r2
                FROM bench_ev e
                CROSS JOIN generate_series(0, %(f)s - 1) AS j
                JOIN bench_wh wh ON wh.n = (e.seq * %(f)s + j) %% %(w)s
                WHERE e.seq::bigint * %(f)s + j < %(d)s
              ) x
            ) s;
            ALTER TABLE bench_dl ADD COLUMN id uuid, ADD COLUMN finished_at timestamptz;
            UPDATE bench_dl SET
              id = pg_temp.uuid7(created_at),
              finished_at = CASE WHEN status IN ('succeeded', 'failed') THEN
                LEAST((SELECT now FROM bench_now),
                      created_at + (%(offsets)s::int[])[attempts] * interval '1 second'
                      + interval '180 ms') END;
            INSERT INTO deliveries_delivery
              (id, event_id, webhook_id, status, attempts, next_attempt_at, claim_token,
               lease_expires_at, message_due_at, last_status_code, last_error, created_at,
               finished_at)
            SELECT id, event_id, webhook_id, status, attempts,
                   CASE status WHEN 'pending' THEN
                     CASE WHEN attempts = 0 THEN created_at
                          ELSE (SELECT now FROM bench_now) + r2 * interval '2 hours' END
                   END,
                   CASE WHEN status = 'sending' THEN gen_random_uuid() END,
                   CASE WHEN status = 'sending'
                     THEN (SELECT now FROM bench_now) + interval '5 minutes' END,
                   CASE WHEN status = 'pending' AND attempts = 0 THEN created_at END,
                   CASE WHEN status = 'succeeded' THEN 200
                        WHEN recorded > 0 AND r2 >= 0.3 THEN 503 END,
                   CASE WHEN status = 'succeeded' OR recorded = 0 THEN ''
                        WHEN r2 < 0.3 THEN 'Timeout: Operation timed out after 10000 '
                             || 'milliseconds with 0 bytes received (curl error 28)'
                        ELSE 'HTTP 503' END,
                   created_at, finished_at
            FROM bench_dl;
            """,
        ),
        (
            "attempts",
            # One per attempt made; every one failed but a succeeded
            # delivery's last. Failures: timeouts (10 s) or HTTP 503.
            """
            INSERT INTO deliveries_deliveryattempt
              (id, delivery_id, number, started_at, duration_ms, url, request_headers,
               response_status, response_headers, response_body, response_truncated,
               error_class, error_message)
            SELECT pg_temp.uuid7(a.started_at), a.id, a.k, a.started_at,
                   CASE WHEN a.ok THEN 20 + floor(power(a.r3, 3) * 900)::int
                        WHEN a.timeout THEN 10000
                        ELSE 5 + floor(a.r3 * 200)::int END,
                   a.payload_url,
                   jsonb_build_object(
                     'Content-Type', 'application/json',
                     'User-Agent', 'Webhooks-Platform/0.1',
                     'webhook-id', a.event_id::text,
                     'webhook-timestamp', floor(extract(epoch FROM a.started_at))::bigint::text,
                     'webhook-signature', '[redacted]'),
                   CASE WHEN a.ok THEN 200 WHEN a.timeout THEN NULL ELSE 503 END,
                   CASE WHEN a.timeout THEN '{}'::jsonb
                        ELSE jsonb_build_object('content-type', 'text/plain',
                                                'server', 'nginx') END,
                   convert_to(CASE WHEN a.ok THEN 'ok' WHEN a.timeout THEN ''
                        ELSE 'Service Unavailable' END, 'UTF8'),
                   false,
                   CASE WHEN a.timeout THEN 'Timeout' ELSE '' END,
                   CASE WHEN a.timeout THEN 'Operation timed out after 10000 milliseconds '
                                            || 'with 0 bytes received (curl error 28)'
                        ELSE '' END
            FROM (
              SELECT dl.id, dl.event_id, dl.payload_url, k,
                     LEAST((SELECT now FROM bench_now) - interval '1 second',
                           dl.created_at + (%(offsets)s::int[])[k] * interval '1 second'
                           + interval '20 ms') AS started_at,
                     dl.status = 'succeeded' AND k = dl.attempts AS ok,
                     NOT (dl.status = 'succeeded' AND k = dl.attempts)
                       AND (CASE WHEN k = dl.recorded THEN dl.r2 ELSE random() END) < 0.3
                       AS timeout,
                     random() AS r3
              FROM bench_dl dl
              CROSS JOIN LATERAL generate_series(1, dl.recorded) AS k
            ) a;
            """,
        ),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET work_mem = '256MB'")
        cursor.execute("SET maintenance_work_mem = '512MB'")
    for name, statements in steps:
        started = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in split_sql(statements):
                cursor.execute(statement, params)
        print(f"  {name}: {time.monotonic() - started:.1f} s", flush=True)
    started = time.monotonic()
    with connection.cursor() as cursor:  # autocommit: VACUUM refuses a transaction
        cursor.execute("DROP TABLE bench_dl, bench_ev, bench_wh, bench_acc, bench_now")
        # The pages are measured on this connection: with the server's settings.
        cursor.execute("RESET ALL")
        cursor.execute(
            "VACUUM (ANALYZE) deliveries_event, deliveries_delivery, deliveries_deliveryattempt, "
            "hooks_webhook, hooks_account, hooks_domain"
        )
    print(f"  vacuum analyze: {time.monotonic() - started:.1f} s", flush=True)


def split_sql(text: str) -> list[str]:
    """Statements of a block, split on ';' at line ends (the function body's
    own ';' is inside $$ … $$ on one line with the CREATE)."""
    statements, current = [], []
    in_body = False
    for line in text.splitlines():
        current.append(line)
        in_body ^= line.count("$$") % 2 == 1
        if line.rstrip().endswith(";") and not in_body:
            statements.append("\n".join(current).strip().rstrip(";"))
            current = []
    rest = "\n".join(current).strip()
    if rest:
        statements.append(rest)
    return [s for s in statements if s]


# --- what is in the database ----------------------------------------------------


@dataclass
class Figures:
    events: int
    deliveries: int
    attempts: int
    by_status: dict[str, int]
    last_24h: int
    newest_age_s: float
    size: str
    tables: list[tuple[str, str, str]]  # table, heap, indexes


def database_figures() -> Figures:
    from django.db import connection

    with connection.cursor() as c:

        def one(sql: str) -> Any:
            c.execute(sql)
            return c.fetchone()[0]

        # Estimates are fine for the big tables after ANALYZE; the exact
        # figures would themselves be the full scans the pages avoid.
        def estimate(table: str) -> int:
            return int(one(f"SELECT reltuples::bigint FROM pg_class WHERE relname = '{table}'"))

        c.execute("SELECT status, count(*) FROM deliveries_delivery GROUP BY status")
        by_status = dict(c.fetchall())
        c.execute(
            "SELECT relname, pg_size_pretty(pg_table_size(oid)), "
            "pg_size_pretty(pg_indexes_size(oid)) FROM pg_class "
            "WHERE relname IN ('deliveries_event', 'deliveries_delivery', "
            "'deliveries_deliveryattempt') ORDER BY relname"
        )
        tables = c.fetchall()
        return Figures(
            events=estimate("deliveries_event"),
            deliveries=sum(by_status.values()),
            attempts=estimate("deliveries_deliveryattempt"),
            by_status=by_status,
            last_24h=one(
                "SELECT count(*) FROM deliveries_delivery "
                "WHERE created_at >= now() - interval '24 hours'"
            ),
            newest_age_s=float(
                one("SELECT extract(epoch FROM now() - max(created_at)) FROM deliveries_delivery")
            ),
            size=one("SELECT pg_size_pretty(pg_database_size(current_database()))"),
            tables=tables,
        )


# --- measuring ------------------------------------------------------------------


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


# --- the machine ----------------------------------------------------------------


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return (
        f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores; "
        f"{machine_busy():.0%} busy over the last second"
    )


# --- report ---------------------------------------------------------------------


def print_table(pages: Sequence[Page]) -> None:
    width = max(len(p.name) for p in pages)
    header = (
        f"{'page':<{width}}  {'status':>6}  {'median ms':>9}  {'max ms':>7}  "
        f"{'queries':>7}  {'slowest q ms':>12}"
    )
    print(header)
    print("-" * len(header))
    for p in pages:
        if p.error:
            print(f"{p.name:<{width}}  {'ERROR':>6}  {p.error[:80]}")
            continue
        statuses = sorted(set(p.statuses))
        status = str(statuses[0]) if len(statuses) == 1 else "/".join(map(str, statuses))
        flag = "" if p.ok else "  !! not 200"
        if p.ok and p.median_ms > SLOW_PAGE_MS:
            flag = "  <- slow"
        print(
            f"{p.name:<{width}}  {status:>6}  {p.median_ms:>9.0f}  {max(p.times_ms):>7.0f}  "
            f"{len(p.queries[-1]):>7}  {p.slowest_query_ms:>12.1f}{flag}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    fingerprint = f"{args.deliveries}/{args.webhooks}/{args.days:g}"
    var_dir = Path(tempfile.mkdtemp(prefix="webhooks-changelist-"))
    conn = None
    try:
        print(load_line())
        conn, must_fill = open_database(args.database_url, keep=args.keep, fingerprint=fingerprint)
        setup_django(args.database_url, var_dir)
        if must_fill:
            print(
                f"filling {args.database_url}: {args.deliveries} deliveries, {args.webhooks} "
                f"webhooks, over {args.days:g} days",
                flush=True,
            )
            started = time.monotonic()
            create_tenants(args.webhooks)
            fill(args)
            fill_s = time.monotonic() - started
            remember_fill(
                conn,
                args.database_url,
                {"fingerprint": fingerprint, "fill_s": round(fill_s, 1), "at": time.time()},
            )
            fill_note = f"filled in {fill_s:.1f} s"
        else:
            info = read_fill(conn, args.database_url)
            age_h = (time.time() - info.get("at", time.time())) / 3600
            fill_note = (
                f"reused (--keep): filled {age_h:.1f} h ago in {info.get('fill_s', '?')} s; "
                "its last 24 h move out of the window as it ages"
            )
        print(fill_note, flush=True)

        from django.contrib.auth import get_user_model
        from django.test import Client

        figures = database_figures()
        samples = pick_samples()
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(get_user_model().objects.get(username=USERNAME))
        pages = pages_to_measure(samples)
        print(f"measuring {len(pages)} pages, 1 warm-up + {args.repeat} timed requests each")
        print(load_line(), flush=True)
        for page in pages:
            measure(client, page, args.repeat)
            print(
                f"  {page.name}: {page.median_ms:.0f} ms"
                + (f" ({page.error})" if page.error else ""),
                flush=True,
            )
        load_after = load_line()

        # --- report
        print("\n== result")
        print(f"command: {shlex.join(sys.orig_argv)}")
        print(
            f"rows: {figures.deliveries} deliveries "
            f"({', '.join(f'{k} {v}' for k, v in sorted(figures.by_status.items()))}), "
            f"~{figures.events} events, ~{figures.attempts} attempts; "
            f"{figures.last_24h} deliveries in the last 24 h, the newest "
            f"{figures.newest_age_s:.0f} s old"
        )
        print(
            f"database size {figures.size}; "
            + "; ".join(f"{t}: table {h}, indexes {i}" for t, h, i in figures.tables)
        )
        print(fill_note)
        print(
            f"samples: webhook {samples.webhook_name} ({samples.webhook_id}), "
            f"event {samples.event_id}, delivery {samples.delivery_id}"
        )
        print(load_after)
        print()
        print_table(pages)

        failed = [p for p in pages if not p.ok]
        uncapped = [(p, q) for p in pages for run in p.queries for q in uncapped_counts(run)]
        changelist = pages[0]
        print()
        if uncapped:
            print(f"!! {len(uncapped)} COUNT queries over a big table without a LIMIT:")
            for p, q in uncapped[:5]:
                print(f"  {p.name}: {q.sql[:300]}")
        else:
            counts = sum(
                1 for p in pages for run in p.queries for q in run if COUNT_RE.search(q.sql)
            )
            print(
                f"no COUNT without a LIMIT on deliveries/events/attempts "
                f"({counts} row counts ran, all capped or on small tables)"
            )
        verdict = (
            "met" if changelist.ok and changelist.median_ms <= TARGET_CHANGELIST_MS else "MISSED"
        )
        print(
            f"delivery list median {changelist.median_ms:.0f} ms "
            f"(target <= {TARGET_CHANGELIST_MS:.0f} ms: {verdict})"
        )
        for p in failed:
            print(f"!! {p.name} ({p.url}): {p.error or sorted(set(p.statuses))}")
        for p in pages:
            n, sql = repeated(p.queries[-1]) if p.queries else (0, "")
            if n >= REPEATED:
                print(f"one by one: {p.name} runs {n} x {sql[:240]}")

        slow = [p for p in pages if p.ok and p.median_ms > SLOW_PAGE_MS]
        for p in slow:
            q = p.slowest
            if q is None:
                continue
            print(f"\n== slow page: {p.name} ({p.url}), median {p.median_ms:.0f} ms")
            print(f"slowest query, {q.ms:.1f} ms:\n{interpolated(q)}\n")
            print(explain(q))

        ok = not failed and not uncapped and verdict == "met"
        return 0 if ok else 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        with suppress(Exception):
            from django.db import connections

            connections.close_all()
        if conn is not None:
            conn.close()  # releases the advisory lock
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
