"""The benchmark's phases: a warm-up, then throughput (publish as fast as
possible) and latency (publish on a schedule). Each publishes, waits for
every delivery at the receiver and in the database, and prints its figures."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.context import Bench
from bench.profile import PUBLISH_RULES, WORKER_RULES, Profiler, order, shares_line
from bench.publishers import Published, PublishPool, submit_on_schedule
from bench.receipts import Arrivals, Key, collect_arrivals, expected_keys
from bench.records import DbState, wait_db_settled
from bench.report import (
    cpu_line,
    cpu_ms_per_delivery,
    cpu_per_delivery_line,
    cpu_used,
    memory_line,
    percentile,
    report_checks,
    spread_ms,
)
from bench.stages import recorded_first_attempts, stage_account, stage_lines
from bench.targets import cost_ms


@dataclass
class Measured:
    """One phase's publishing and what came of it."""

    started: float  # time.time() just before the publishing threads started
    published: list[Published]
    expected: set[Key]
    arrivals: Arrivals
    cpu_before: dict[str, float]
    cpu_after: dict[str, float]  # when the last delivery arrived (or the wait stalled)
    db: DbState
    memory: tuple[int, int]  # peak worker (RSS, PSS) during the phase
    profile: list[str]  # --profile: CPU by stage, a line per profiled part

    def check(self) -> bool:
        return report_checks(self.arrivals, len(self.expected), self.db)

    def stage_lines(self, phase: str) -> list[str]:
        """Where the time went (bench/stages.py), then where the CPU went."""
        account = stage_account(self.published, self.arrivals.first, recorded_first_attempts(phase))
        return [*stage_lines(account), *self.profile]


def start_profilers(bench: Bench) -> dict[str, Profiler]:
    """py-spy on the workers and on the publishing side (gunicorn, or this
    process for --via python)."""
    roots = bench.cpu.roots
    publishing = roots["web"] if "web" in roots else [os.getpid()]
    targets = {"worker": roots["worker"], "web" if "web" in roots else "bench": publishing}
    # This process's children are the whole system: only its own threads.
    return {
        f"{group}{i}": Profiler(
            pid,
            bench.var_dir / f"py-spy-{group}{i}-{pid}.txt",
            subprocesses=group != "bench",
            threaded=group != "worker",
        )
        for group, pids in targets.items()
        for i, pid in enumerate(pids)
    }


def profile_lines(
    profilers: dict[str, Profiler], cpu: dict[str, float], deliveries: int
) -> list[str]:
    lines = []
    for name, profiler in profilers.items():
        group = name.rstrip("0123456789")
        rules = WORKER_RULES if group == "worker" else PUBLISH_RULES
        counts = profiler.stop(rules)
        # Per group: with several workers each gets the group's CPU share of
        # its own samples; one worker (the benchmark's default) is exact.
        lines.append(shares_line(name, counts, cpu.get(group, 0.0), deliveries, order(rules)))
    return lines


def publish_and_wait(
    bench: Bench,
    phase: str,
    threads: int,
    submit: Callable[[PublishPool], None],
    timeout: float,
) -> Measured:
    """Publish what `submit` puts in a pool of `threads` publishing threads
    (events tagged with `phase`), then wait for all their deliveries."""
    args = bench.args
    offset = bench.receiver.count()
    bench.rss.phase_peak()
    cpu_before = bench.cpu.snapshot()
    profilers = start_profilers(bench) if args.profile else {}
    started = time.time()
    pool = PublishPool(bench.publisher, threads, phase)
    submit(pool)
    published = pool.close(timeout=timeout)
    expected = expected_keys((p.event_id for p in published), args.webhooks)
    arrivals = collect_arrivals(
        bench.receiver, offset, expected, args.stall_timeout, bench.children
    )
    cpu_after = bench.cpu.snapshot()
    cpu = cpu_used(cpu_before, cpu_after)
    profile = profile_lines(profilers, cpu, len(arrivals.first))
    db = wait_db_settled(phase, len(expected), args.stall_timeout)
    memory = bench.rss.phase_peak()
    return Measured(
        started, published, expected, arrivals, cpu_before, cpu_after, db, memory, profile
    )


def warm_up(bench: Bench) -> None:
    """Publish a few events first, so every pool process has its database
    connection, curl handles and receiver connections before the clock runs."""
    args = bench.args
    count = max(20, 4 * args.workers * args.concurrency)

    def submit(pool: PublishPool) -> None:
        for seq in range(count):
            pool.submit([seq])

    m = publish_and_wait(bench, "bench-warmup", args.publishers, submit, timeout=120)
    worker_errors = "".join(
        f"\n!! {name} log: {error}"
        for name in bench.worker_names
        if (error := bench.children.last_error(name))
    )
    if m.arrivals.missing:
        raise RuntimeError(
            f"warm-up: {m.arrivals.missing} of {len(m.expected)} deliveries missing{worker_errors}"
        )
    if m.db.succeeded != len(m.expected):
        # Go on: the receiver-side figures still mean something, and the
        # phases report the database state too. But say why, loudly.
        print(f"!! warm-up: the database shows {m.db.by_status}, not all succeeded{worker_errors}")


def throughput_phase(bench: Bench) -> None:
    args, results = bench.args, bench.results
    n, webhooks = args.events, args.webhooks
    per_call = f", {args.batch} events per call" if args.batch > 1 else ""
    print(
        f"\n== throughput: {n} events x {webhooks} webhooks = {n * webhooks} deliveries "
        f"(via {bench.publisher.label}, {args.publishers} publishing threads{per_call})",
        flush=True,
    )

    def submit(pool: PublishPool) -> None:
        for first in range(0, n, args.batch):
            pool.submit(list(range(first, min(n, first + args.batch))))

    m = publish_and_wait(bench, "bench-throughput", args.publishers, submit, max(120, n / 5))
    start = m.started
    published_at = max(p.finished for p in m.published)
    last = max(m.arrivals.first.values(), default=start)

    results.events_per_s = n / (published_at - start)
    results.deliveries_per_s = len(m.arrivals.first) / (last - start)
    results.recorded_per_s = m.db.succeeded / (m.db.done_at - start)
    print(
        f"published {n} events in {published_at - start:.2f} s: "
        f"{results.events_per_s:.0f} events/s; publish call "
        f"{spread_ms([p.finished - p.started for p in m.published])}"
    )
    results.ok &= m.check()
    print(
        f"last receipt at +{last - start:.2f} s; all recorded in the database by "
        f"+{m.db.done_at - start:.2f} s (polled every 0.25 s): "
        f"{results.recorded_per_s:.0f} deliveries/s"
    )
    print(cpu_line(m.cpu_before, m.cpu_after))
    print(cpu_per_delivery_line(m.cpu_before, m.cpu_after, len(m.arrivals.first)))
    results.cost_ms = cost_ms(cpu_ms_per_delivery(m.cpu_before, m.cpu_after, len(m.arrivals.first)))
    print(f"deliveries/s end to end: {results.deliveries_per_s:.0f}")
    print(memory_line(m.memory))
    print("\n".join(m.stage_lines("bench-throughput")), flush=True)


def latency_phase(bench: Bench, run: int = 0, runs: int = 1) -> None:
    """One latency run (`run` of `runs`: each publishes under a label of its
    own, so its checks and stages count its deliveries only)."""
    args, results = bench.args, bench.results
    total = max(1, round(args.rate * args.duration))
    numbered = f" run {run + 1} of {runs}" if runs > 1 else ""
    print(
        f"\n== latency{numbered}: {args.rate:g} events/s for {args.duration:g} s ({total} events) "
        f"x {args.webhooks} webhooks (via {bench.publisher.label})",
        flush=True,
    )

    def submit(pool: PublishPool) -> None:
        submit_on_schedule(pool, args.rate, total)

    # Several threads, so one slow publish call does not delay the next ones
    # (the schedule, not the previous call, decides when a publish starts).
    threads = max(args.publishers, 2)
    label = f"bench-latency-{run + 1}" if run else "bench-latency"
    m = publish_and_wait(bench, label, threads, submit, timeout=60)

    by_id = {p.event_id: p for p in m.published}
    results.latency = [at - by_id[e].started for (e, _), at in m.arrivals.first.items()]
    if results.latency:
        results.latency_p99_ms.append(percentile(sorted(results.latency), 99) * 1000)
    print(
        f"publish call {spread_ms([p.finished - p.started for p in m.published])}; "
        f"start behind schedule {spread_ms([p.started - p.scheduled for p in m.published])}"
    )
    # Splits the latency: the call's own time, then what the queue and the
    # worker add (negative when the request arrives before the call returns).
    after_return = [at - by_id[e].finished for (e, _), at in m.arrivals.first.items()]
    print(f"receipt after the publish call returned: {spread_ms(after_return)}")
    results.ok &= m.check()
    print(cpu_line(m.cpu_before, m.cpu_after))
    print(
        f"latency at {args.rate:g} events/s x {args.webhooks} webhooks: "
        f"{spread_ms(results.latency)}"
    )
    print(memory_line(m.memory))
    print("\n".join(m.stage_lines(label)), flush=True)
