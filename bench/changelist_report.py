"""What bench/changelist.py prints: the machine's load, the table of pages,
and the verdicts (every page 200, no uncapped count, the delivery list fast
enough), with the plan of the slowest query of each slow page."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from bench.changelist_db import Figures
from bench.changelist_pages import (
    COUNT_RE,
    REPEATED,
    Page,
    Samples,
    explain,
    interpolated,
    repeated,
    uncapped_counts,
)
from bench.common import machine_busy

TARGET_CHANGELIST_MS = 1000.0
SLOW_PAGE_MS = 300.0


@dataclass
class Measurement:
    """One run of the console benchmark, for the report."""

    figures: Figures  # what the database holds
    fill_note: str  # how it was filled, or that it was reused
    samples: Samples  # the rows the pages asked about
    pages: list[Page]  # measured; the delivery list first
    load_after: str  # the machine's load once the pages were measured


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return (
        f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores; "
        f"{machine_busy():.0%} busy over the last second"
    )


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


def report(m: Measurement) -> bool:
    """Print the result; whether every verdict is good."""
    figures, samples, pages = m.figures, m.samples, m.pages
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
    print(m.fill_note)
    print(
        f"samples: webhook {samples.webhook_name} ({samples.webhook_id}), "
        f"event {samples.event_id}, delivery {samples.delivery_id}"
    )
    print(m.load_after)
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
        counts = sum(1 for p in pages for run in p.queries for q in run if COUNT_RE.search(q.sql))
        print(
            f"no COUNT without a LIMIT on deliveries/events/attempts "
            f"({counts} row counts ran, all capped or on small tables)"
        )
    verdict = "met" if changelist.ok and changelist.median_ms <= TARGET_CHANGELIST_MS else "MISSED"
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

    for p in pages:
        q = p.slowest
        if not (p.ok and p.median_ms > SLOW_PAGE_MS) or q is None:
            continue
        print(f"\n== slow page: {p.name} ({p.url}), median {p.median_ms:.0f} ms")
        print(f"slowest query, {q.ms:.1f} ms:\n{interpolated(q)}\n")
        print(explain(q))

    return not failed and not uncapped and verdict == "met"
