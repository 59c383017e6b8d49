"""What a run prints: percentiles, CPU and memory lines, the checks of every
delivery, and the summary with its verdicts. All but `summary` are pure."""

from __future__ import annotations

import math
import os
import shlex
import sys
from collections.abc import Sequence

from bench.common import ROOT
from bench.context import Bench
from bench.receipts import Arrivals
from bench.records import DbState
from bench.targets import Measured, cost_ms, verdict_lines

MiB = 1024 * 1024
GROUPS = ["worker", "web", "postgres", "redis", "receiver", "bench"]
PLATFORM = ("worker", "web", "postgres", "redis")


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty sequence."""
    value = percentile_within(sorted_values, pct)
    if value is None:
        raise ValueError("percentile of no values")
    return value


def percentile_within(
    sorted_values: Sequence[float], pct: float, *, missing: int = 0
) -> float | None:
    """Nearest-rank percentile of sorted values, with `missing` more values
    known only to be larger than all of them (deliveries that never arrived
    within a bound). None when the rank falls among the missing ones, or
    there are no values at all."""
    rank = max(1, math.ceil(pct / 100 * (len(sorted_values) + missing)))
    return sorted_values[rank - 1] if rank <= len(sorted_values) else None


def spread_ms(values: Sequence[float], missing: int = 0) -> str:
    """p50/p95/p99/max of seconds, in milliseconds; with `missing` values
    beyond a bound, a percentile among them shows as "beyond bound"."""
    v = sorted(values)
    if not v and not missing:
        return "no samples"

    def show(pct: float) -> str:
        x = percentile_within(v, pct, missing=missing)
        return "beyond bound" if x is None else f"{x * 1000:.1f} ms"

    top = f"{v[-1] * 1000:.1f} ms" if v else "-"
    return f"p50 {show(50)}  p95 {show(95)}  p99 {show(99)}  max{' received' * bool(missing)} {top}"


def memory_line(peak: tuple[int, int]) -> str:
    return f"peak worker RSS: {peak[0] / MiB:.0f} MiB  (PSS {peak[1] / MiB:.0f} MiB)"


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds per group between two snapshots (the groups `after` has),
    steal, and "other": what the machine spent that none of them did
    (another test run, the kernel...)."""
    used = {g: after[g] - before.get(g, 0) for g in GROUPS if g in after}
    used["steal"] = after["steal"] - before["steal"]
    busy = after["machine"] - before["machine"]
    used["other"] = max(0.0, busy - sum(used.values()))
    return used


def cpu_line(before: dict[str, float], after: dict[str, float]) -> str:
    used = cpu_used(before, after)
    busy = after["machine"] - before["machine"]
    wall = after["wall"] - before["wall"]
    parts = "  ".join(f"{g} {v:.1f}" for g, v in used.items())
    return (
        f"CPU seconds: {parts}  (machine busy {busy:.1f} of "
        f"{wall * (os.cpu_count() or 1):.1f} core-seconds; "
        f"other = {used['other'] / max(wall, 1e-9):.2f} cores)"
    )


def cpu_ms_per_delivery(
    before: dict[str, float], after: dict[str, float], count: int
) -> dict[str, float]:
    return {g: (after.get(g, 0) - before.get(g, 0)) / max(1, count) * 1000 for g in GROUPS}


def cpu_per_delivery_line(before: dict[str, float], after: dict[str, float], count: int) -> str:
    """CPU cost per delivery, and the rate the machine's cores could sustain at that cost.

    Unlike deliveries/s, this hardly moves when something else shares the
    machine (see "other" above), so runs on a busy machine still compare.
    """
    used = cpu_ms_per_delivery(before, after, count)
    system = sum(used[g] for g in PLATFORM)
    everything = sum(used.values())
    cores = os.cpu_count() or 1
    parts = "  ".join(f"{g} {used[g]:.2f}" for g in GROUPS if g in after)
    return (
        f"CPU ms per delivery: {parts}  (platform {system:.2f}, all but the receiver "
        f"{cost_ms(used):.2f}, all {everything:.2f}): "
        f"{cores} cores sustain at most ~{cores * 1000 / max(everything, 1e-9):.0f} deliveries/s"
    )


def report_checks(arrivals: Arrivals, expected: int, db: DbState) -> bool:
    """Print what arrived and what the database says; whether all is well."""
    ok = not arrivals.missing and db.succeeded == expected
    print(
        f"received {len(arrivals.first)}/{expected} deliveries: {arrivals.missing} missing, "
        f"{arrivals.duplicates} duplicates, {arrivals.unexpected} unexpected"
    )
    statuses = ", ".join(f"{s} {n}" for s, n in sorted(db.by_status.items()))
    print(f"database: {statuses or 'no deliveries'}; {db.attempts} attempts recorded")
    if not ok:
        print("!! not every delivery arrived and succeeded", flush=True)
    return ok


def ready_line(bench: Bench) -> str:
    return (
        f"ready: receiver on :{bench.receiver.port}, {bench.args.webhooks} webhooks, "
        f"logs in {bench.var_dir}"
        + ("" if bench.args.keep_var else " (removed at exit; --keep-var keeps them)")
    )


def summary(bench: Bench) -> None:
    from django.conf import settings  # the children's settings: same environment

    args, results = bench.args, bench.results
    print("\n== summary")
    print(f"command: {shlex.join(sys.orig_argv)}")
    if args.project_dir.resolve() != ROOT:
        print(f"project: {args.project_dir.resolve()}")
    web = f", gunicorn {args.web_workers} workers" if args.via == "api" else ""
    print(
        f"config: {args.workers} worker(s) x concurrency {args.concurrency} ({args.pool}"
        f"{', -O fair' if args.fair else ''}), via {args.via}{web}, "
        f"{args.publishers} publishing threads"
        f"{f' ({args.batch} events per call)' if args.batch > 1 else ''}, "
        f"WEBHOOK_BATCH_SIZE={settings.WEBHOOK_BATCH_SIZE}"
    )
    if results.deliveries_per_s is not None:
        print(
            f"{results.recorded_per_s:.0f} deliveries/s until recorded in the database; "
            f"publish rate: {results.events_per_s:.0f} events/s"
        )
    if results.latency:
        print(
            f"latency at {args.rate:g} events/s x {args.webhooks} webhooks, last run: "
            f"{spread_ms(sorted(results.latency))}"
        )
    lines, met = verdict_lines(
        Measured(
            via=args.via,
            batch=args.batch,
            cost_ms=results.cost_ms,
            deliveries_per_s=results.deliveries_per_s,
            p99_ms=results.latency_p99_ms,
        )
    )
    print("\n".join(lines))
    if lines:
        print(f"targets: {'all met' if met else 'NOT all met'}")
    print(memory_line(bench.rss.peak))
    print(f"all deliveries arrived and succeeded: {'yes' if results.ok else 'NO'}", flush=True)
