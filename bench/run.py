"""Throughput and latency of the whole pipeline against PostgreSQL and Redis.

    python bench/run.py [--events 2000] [--webhooks 10] [--workers 1] [--concurrency 2]
                        [--via api|python] [--rate 50] [--duration 20] ...

Starts, on 127.0.0.1 only: a fast receiver (bench/receiver.py), W Celery
workers and, for --via api, gunicorn. Then:
  a. throughput: publishes --events events as fast as it can, each matching
     all --webhooks webhooks, and times first publish -> last receipt;
  b. latency: publishes at --rate events/s for --duration s and reports
     receipt time - publish-call start, per delivery; --latency-runs times
     back to back, each run's p99 judged on its own.
The summary judges the run against the targets in bench/targets.py.
Every delivery is checked at the receiver (missing, duplicates) and in the
database (all succeeded); the exit status is 1 if one was not. The database
named in --database-url (or $BENCH_DATABASE_URL) is dropped and created again,
and the Redis database in --redis-url (or $BENCH_REDIS_URL) is flushed: point
them at nothing you want to keep.

Besides the figures, each phase prints where the CPU went ("CPU seconds": per
process group, plus "other" for whatever else ran on the machine and "steal"
for a VM host's share) and, for throughput, the CPU cost of one delivery and
the rate the machine's cores could sustain at that cost: a figure that
hardly moves when something else shares the machine, unlike deliveries/s.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

# As a script (python bench/run.py) the path starts with bench/ itself: put the
# checkout there instead, so that `bench` is this package and no module in
# bench/ stands in for another of the same name.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import phases  # noqa: E402
from bench.common import (  # noqa: E402
    ROOT,
    add_system_options,
    check_system_options,
    machine_busy,
)
from bench.records import vacuum_analyze  # noqa: E402
from bench.report import ready_line, summary  # noqa: E402
from bench.soak import soak_phase  # noqa: E402
from bench.stack import running  # noqa: E402


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Webhook delivery benchmark (PostgreSQL + Redis + Celery + pycurl).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--events", type=int, default=2000, help="events in the throughput phase")
    p.add_argument("--webhooks", type=int, default=10, help="webhooks, all matching every event")
    p.add_argument("--workers", type=int, default=1, help="Celery workers, each with a pool")
    p.add_argument("--concurrency", type=int, default=2, help="pool size of each worker")
    p.add_argument("--pool", choices=["prefork", "solo"], default="prefork", help="Celery pool")
    p.add_argument("--fair", action="store_true", help="start workers with -O fair")
    p.add_argument("--via", choices=["api", "python"], default="api", help="how to publish")
    p.add_argument("--publishers", type=int, default=4, help="publishing threads")
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        help="throughput phase: events per publish call (api: POST /api/v1/events/batch/; "
        "python: one transaction)",
    )
    p.add_argument(
        "--web-workers",
        type=int,
        default=None,
        help="gunicorn workers (--via api); default: as the project's gunicorn_conf.py sets them",
    )
    p.add_argument("--rate", type=float, default=50, help="latency phase: events per second")
    p.add_argument("--duration", type=float, default=20, help="latency phase: seconds")
    p.add_argument(
        "--latency-runs",
        type=int,
        default=5,
        help="latency phase: this many runs back to back, each judged on its own p99",
    )
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument(
        "--soak",
        type=int,
        default=0,
        metavar="N",
        help="instead of the phases: N deliveries, printing worker memory along the way",
    )
    p.add_argument("--soak-every", type=int, default=100_000, help="soak: memory every this many")
    p.add_argument(
        "--soak-ahead", type=int, default=5000, help="soak: deliveries published ahead at most"
    )
    p.add_argument(
        "--soak-vacuum",
        action="store_true",
        help="soak: VACUUM the delivery tables at every point (for a server with autovacuum off)",
    )
    p.add_argument(
        "--soak-tolerance", type=float, default=20, help="soak: RSS growth (MiB) still flat"
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="sample the workers and the publishing side with py-spy: CPU by pipeline stage "
        "(py-spy's own CPU then shows as 'other'; its raw stacks stay with --keep-var)",
    )
    add_system_options(
        p,
        database=("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/webhooks_bench"),
        redis=("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        redis_help="flushed at start",
        env_help="extra setting for every process, e.g. WEBHOOK_BATCH_SIZE=10 (repeatable)",
    )
    p.add_argument(
        "--stall-timeout", type=float, default=30, help="give up after this long without progress"
    )
    p.add_argument(
        "--project-dir",
        type=Path,
        default=ROOT,
        help="the checkout to benchmark (another copy, to compare a change)",
    )
    args = p.parse_args(argv)
    names = (
        "events",
        "webhooks",
        "workers",
        "concurrency",
        "publishers",
        "web_workers",
        "batch",
        "latency_runs",
    )
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.soak < 0 or args.soak_every < 1 or args.soak_ahead < 1:
        p.error("--soak must be positive, --soak-every and --soak-ahead at least 1")
    if args.rate <= 0 or args.duration <= 0:
        p.error("--rate and --duration must be positive")
    check_system_options(p, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so that every child is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        busy = machine_busy()
        if busy > 0.15:
            # On a small machine anything else running takes its share off our figures.
            print(f"!! the machine is already {busy:.0%} busy: the figures will be low")
        with running(args) as bench:
            phases.warm_up(bench)
            print(ready_line(bench))
            if args.soak:
                soak_phase(bench)
                summary(bench)
                return 0 if bench.results.ok else 1
            if not args.skip_throughput:
                phases.throughput_phase(bench)
            if not args.skip_latency:
                for run in range(args.latency_runs):
                    if run or not args.skip_throughput:
                        # As autovacuum would between phases (this machine's
                        # PostgreSQL runs without it: docs/operations.md).
                        print(f"\n(vacuumed and analysed the tables in {vacuum_analyze():.1f} s)")
                    phases.latency_phase(bench, run, args.latency_runs)
            summary(bench)
            return 0 if bench.results.ok else 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
