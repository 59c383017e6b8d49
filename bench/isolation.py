"""Endpoint isolation, measured: do bad receivers slow the healthy ones down?

    python bench/isolation.py [--scenarios A,B] [--phase-seconds 30] [--drain 30]
                              [--database-url URL] [--redis-url URL] ...

Starts, on 127.0.0.1 only: a private redis-server (unless --redis-url names
one), ONE Celery worker of --concurrency 2 prefork processes with default
settings (WEBHOOK_TIMEOUT 10 s; only WEBHOOK_ALLOW_PRIVATE_IPS=1 so that it may
reach 127.0.0.1, plus --env), the fast receiver for healthy webhooks
(bench/receiver.py) and the bad ones (bench/hostile.py). Events are published
from this process through deliveries.publishing.event_publish, at a fixed
rate, from several threads.

Each scenario runs two phases on the same event stream: "baseline", with the
bad webhooks disabled, then "bad", with them enabled:
  A  10 healthy + 2 hanging webhooks (accept, never answer), global scope, 30 events/s;
  B  200 webhooks, one account each, local scope, each event for one account in
     turn (as tenants use it): 20 hanging, 20 answering 500, 200 events/s;
  C  10 healthy + 2 slow webhooks (answer after --slow-seconds), 30 events/s.
Before each scenario the worker is restarted and the Redis database and the
event, delivery and webhook tables are emptied, so no scenario inherits
another's backlog.

Per phase it prints: healthy publish-to-receipt percentiles (receipt time
taken at the receiver, from just before the publish call; a delivery still
missing when the bound runs out counts as slower than any received), healthy
throughput while publishing against the offered rate, healthy deliveries
received within --drain s of the last publish, what the bad endpoints held
(their deliveries in flight, the worker's claims stuck on one of them, the
connections the hanging receiver holds open; sampled every --sample-interval
s) and CPU seconds by part, with "other" for everything else on the machine.
Then a verdict per scenario against the targets of issue 9:
  A, C  healthy p99 <= 1.5 x baseline and healthy throughput >= 95 % of offered;
  B     healthy p99 <= 2 x baseline and no healthy delivery lost.
The exit status is 1 if a target is missed, 2 if the run could not complete.

The database in --database-url (or $BENCH_ISO_DATABASE_URL) is dropped and
created again; a --redis-url database is flushed: point them at nothing you
want to keep. Everything the script starts is stopped when it exits, on
Ctrl-C and on error too.

The modules (bench/__init__.py maps the rest of bench/):
    isolation_scenarios.py  the scenarios, their webhook layout, the verdict
    isolation_stack.py      the system under test, from bench/stack.py's pieces
    isolation_world.py      a scenario's webhooks and accounts
    isolation_sampling.py   what the bad endpoints hold, sampled while a phase runs
    isolation_phases.py     one scenario: warm-up, baseline and bad phases, verdict
    isolation_report.py     the lines every phase and the summary print
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

if __name__ == "__main__":
    # As a script the path starts with bench/ itself: put the checkout there
    # instead, so that `bench` is this package (see bench/run.py).
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.common import add_system_options, check_system_options, machine_busy
from bench.isolation_phases import run_scenario
from bench.isolation_report import summary_lines
from bench.isolation_scenarios import scenarios
from bench.isolation_stack import running


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--scenarios", default="A,B", help="comma-separated, from A, B, C")
    p.add_argument("--phase-seconds", type=float, default=30, help="publishing time per phase")
    p.add_argument(
        "--drain",
        type=float,
        default=30,
        help="bound: healthy deliveries must arrive within this long after the last publish",
    )
    p.add_argument("--rate-a", type=float, default=30, help="events/s in scenario A")
    p.add_argument("--rate-b", type=float, default=200, help="events/s in scenario B")
    p.add_argument("--rate-c", type=float, default=30, help="events/s in scenario C")
    p.add_argument("--slow-seconds", type=float, default=2, help="slow receivers' delay")
    p.add_argument("--concurrency", type=int, default=2, help="pool processes of the one worker")
    p.add_argument("--publishers", type=int, default=8, help="publishing threads")
    p.add_argument(
        "--window-seconds", type=float, default=5, help="time series of the stages: window width"
    )
    p.add_argument("--sample-interval", type=float, default=0.5, help="seconds between samples")
    add_system_options(
        p,
        database=("BENCH_ISO_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_iso"),
        redis=("BENCH_ISO_REDIS_URL", ""),
        redis_help="flushed before each scenario; empty: start a private redis-server",
        env_help="extra setting for the worker and this process (repeatable)",
    )
    # What bench/stack.py's start_workers reads: issue 9's one prefork worker.
    p.set_defaults(workers=1, pool="prefork", fair=False)
    args = p.parse_args(argv)
    known = set(scenarios(args))
    args.scenario_names = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    if not args.scenario_names or not set(args.scenario_names) <= known:
        p.error(f"--scenarios: choose from {', '.join(sorted(known))}")
    for name in ("phase_seconds", "drain", "rate_a", "rate_b", "rate_c", "sample_interval"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.concurrency < 1 or args.publishers < 1:
        p.error("--concurrency and --publishers must be at least 1")
    check_system_options(p, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C raises KeyboardInterrupt even when started in the background,
    # where the shell has SIGINT ignored; SIGTERM unwinds the same way. Either
    # way every child is stopped on the way out.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        busy = machine_busy()
        print(f"machine busy before start: {busy:.0%} of {os.cpu_count()} cores", flush=True)
        with running(args) as iso:
            from django.conf import settings  # set up by `running`, as the worker's

            table = scenarios(args)
            results = [run_scenario(iso, table[name]) for name in args.scenario_names]
            lines, ok = summary_lines(
                results,
                args,
                command=shlex.join(sys.orig_argv),
                timeout=settings.WEBHOOK_TIMEOUT,
                batch_size=settings.WEBHOOK_BATCH_SIZE,
            )
            print("\n".join(lines), flush=True)
            return 0 if ok else 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"\n!! {exc!r}", file=sys.stderr)
        traceback.print_exc()
        return 2


if __name__ == "__main__":
    sys.exit(main())
