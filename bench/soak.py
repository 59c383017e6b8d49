"""The soak: --soak N deliveries through the running system, printing the
workers' memory every --soak-every deliveries, to see whether it stays flat.

Events are published as fast as the system takes them, but never more than
--soak-ahead deliveries ahead of what the receiver has: the backlog stays
small, so memory reflects what the workers keep, not a queue's size.
At the end every delivery is checked at the receiver (none missing, no
duplicates); the exit status is 1 if one was not.

With --soak-vacuum the delivery tables are vacuumed at every point, as
autovacuum would do them: on a server where it is off (this development
machine's is) a million updated rows leave their dead versions behind, every
claim reads past them and the soak measures the bloat, not the pipeline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.context import Bench
from bench.publishers import PublishPool
from bench.receipts import expected_keys, match
from bench.records import vacuum_analyze
from bench.report import MiB


@dataclass(frozen=True)
class SoakPoint:
    delivered: int  # received so far
    elapsed: float  # seconds since the soak began
    rate: float  # deliveries/s since the previous point
    rss: int  # the workers' RSS (bytes, summed over their processes)
    pss: int


def soak_line(point: SoakPoint, first: SoakPoint | None) -> str:
    growth = ""
    if first is not None:
        growth = f"  ({(point.rss - first.rss) / MiB:+.0f} MiB RSS since the first point)"
    return (
        f"{point.delivered:>10,} delivered  +{point.elapsed:7.1f} s  {point.rate:6.0f}/s  "
        f"worker RSS {point.rss / MiB:5.0f} MiB  PSS {point.pss / MiB:5.0f} MiB{growth}"
    )


def flat_verdict(points: list[SoakPoint], tolerance_mib: float) -> tuple[bool, str]:
    """Flat: after the first point (caches warm, connections open), RSS grows
    by at most `tolerance_mib` to the last one."""
    if len(points) < 2:
        return False, "too few points to tell"
    growth = (points[-1].rss - points[0].rss) / MiB
    ok = growth <= tolerance_mib
    return ok, (
        f"worker RSS from the first point to the last: {growth:+.0f} MiB "
        f"(flat if <= {tolerance_mib:g} MiB: {'yes' if ok else 'NO'})"
    )


def soak_phase(bench: Bench) -> None:
    args = bench.args
    webhooks = args.webhooks
    events = -(-args.soak // webhooks)  # ceil: every event goes to every webhook
    total = events * webhooks
    print(
        f"\n== soak: {events:,} events x {webhooks} webhooks = {total:,} deliveries "
        f"(via {bench.publisher.label}); worker memory every {args.soak_every:,}",
        flush=True,
    )
    offset = bench.receiver.count()
    pool = PublishPool(bench.publisher, args.publishers, "bench-soak")
    ahead_events = max(1, args.soak_ahead // webhooks)
    start = last_time = time.time()
    points: list[SoakPoint] = []
    submitted = last_at = 0
    next_point = args.soak_every
    stalled_since = time.monotonic()
    last_count = 0
    while True:
        bench.children.check_alive()
        received = bench.receiver.count() - offset
        if received != last_count:
            last_count, stalled_since = received, time.monotonic()
        elif time.monotonic() - stalled_since > args.stall_timeout:
            print(f"!! no delivery for {args.stall_timeout:g} s: stopping the soak")
            break
        while submitted < events and submitted * webhooks - received < ahead_events * webhooks:
            batch = list(range(submitted, min(events, submitted + args.batch)))
            pool.submit(batch)
            submitted += len(batch)
        while received >= next_point:
            now = time.time()
            rss, pss = bench.rss.sample()
            points.append(
                SoakPoint(received, now - start, (received - last_at) / (now - last_time), rss, pss)
            )
            vacuumed = f"  (vacuumed in {vacuum_analyze():.1f} s)" if args.soak_vacuum else ""
            line = soak_line(points[-1], points[0] if len(points) > 1 else None)
            print(line + vacuumed, flush=True)
            last_at, last_time = received, now
            next_point += args.soak_every
        if received >= total:
            break
        time.sleep(0.05)
    published = pool.close(timeout=120)
    arrivals = match(
        bench.receiver.since(offset), expected_keys((p.event_id for p in published), webhooks)
    )
    ok = not arrivals.missing and not arrivals.duplicates and len(published) == events
    print(
        f"received {len(arrivals.first):,}/{total:,}: {arrivals.missing} missing, "
        f"{arrivals.duplicates} duplicates, {arrivals.unexpected} unexpected"
    )
    flat, verdict = flat_verdict(points, args.soak_tolerance)
    print(verdict, flush=True)
    bench.results.ok &= ok and flat
