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
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# As a script (python bench/changelist.py) the path starts with bench/ itself:
# put the checkout there instead, so that `bench` is this package.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.changelist_db import (  # noqa: E402
    database_figures,
    open_database,
    read_fill,
    remember_fill,
    setup_django_migrated,
)
from bench.changelist_fill import DEGRADED, FAILING, USERNAME, create_tenants, fill  # noqa: E402
from bench.changelist_pages import measure, pages_to_measure, pick_samples  # noqa: E402
from bench.changelist_report import Measurement, load_line, report  # noqa: E402
from bench.common import require_local  # noqa: E402


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
    require_local(p, args.database_url)
    return args


def fill_or_reuse(conn: Any, args: argparse.Namespace, fingerprint: str, must_fill: bool) -> str:
    """Fill the database unless it is reused; a line saying which, and how long."""
    if not must_fill:
        info = read_fill(conn, args.database_url)
        age_h = (time.time() - info.get("at", time.time())) / 3600
        return (
            f"reused (--keep): filled {age_h:.1f} h ago in {info.get('fill_s', '?')} s; "
            "its last 24 h move out of the window as it ages"
        )
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
    return f"filled in {fill_s:.1f} s"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    fingerprint = f"{args.deliveries}/{args.webhooks}/{args.days:g}"
    var_dir = Path(tempfile.mkdtemp(prefix="webhooks-changelist-"))
    conn = None
    try:
        print(load_line())
        conn, must_fill = open_database(args.database_url, keep=args.keep, fingerprint=fingerprint)
        setup_django_migrated(args.database_url, var_dir)
        fill_note = fill_or_reuse(conn, args, fingerprint, must_fill)
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
        ok = report(Measurement(figures, fill_note, samples, pages, load_after=load_line()))
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
