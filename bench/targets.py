"""The targets a run is judged against (issue 13, docs/architecture.md#throughput),
and the verdict lines the summary prints. Pure: tests/bench/test_targets.py.

The cost figure is CPU per delivery of every process the delivery needs:
the workers, the web server, PostgreSQL, Redis and the publishing side (the
benchmark's own process when publishing from Python). Only the receiver is
left out: it stands for the customers' machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# CPU ms per delivery, all processes but the receiver.
TARGET_COST_MS = {"python": 0.6, "api": 1.0}
# Deliveries per second end to end; over the API, batched calls (POST
# /events/batch/ of 10 or more) have a target of their own.
TARGET_RATE = {"python": 3000.0, "api": 2000.0}
TARGET_RATE_API_BATCHED = 3000.0
BATCHED_FROM = 10
TARGET_P99_MS = 30.0
# Publish-to-receipt p99 is judged run by run: each must be within the target.
COST_GROUPS = ("worker", "web", "postgres", "redis", "bench")


def cost_ms(used_ms: dict[str, float]) -> float:
    """CPU ms per delivery of the groups a delivery costs (not the receiver)."""
    return sum(used_ms.get(g, 0.0) for g in COST_GROUPS)


def rate_target(via: str, batch: int) -> float:
    if via == "api" and batch >= BATCHED_FROM:
        return TARGET_RATE_API_BATCHED
    return TARGET_RATE[via]


@dataclass(frozen=True)
class Measured:
    via: str
    batch: int
    cost_ms: float | None  # throughput phase; None when skipped
    deliveries_per_s: float | None
    p99_ms: Sequence[float]  # one per latency run


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def verdict_lines(m: Measured) -> tuple[list[str], bool]:
    """One line per target measured, and whether all of them were met."""
    lines, all_ok = [], True
    if m.cost_ms is not None:
        target = TARGET_COST_MS[m.via]
        ok = m.cost_ms <= target
        all_ok &= ok
        lines.append(
            f"CPU per delivery, all processes but the receiver: {m.cost_ms:.2f} ms "
            f"(target <= {target:g} ms via {m.via}: {_verdict(ok)})"
        )
    if m.deliveries_per_s is not None:
        target = rate_target(m.via, m.batch)
        ok = m.deliveries_per_s >= target
        all_ok &= ok
        per_call = f", {m.batch} events per call" if m.batch > 1 else ""
        lines.append(
            f"deliveries/s end to end: {m.deliveries_per_s:.0f} "
            f"(target >= {target:.0f} via {m.via}{per_call}: {_verdict(ok)})"
        )
    if m.p99_ms:
        met = sum(p <= TARGET_P99_MS for p in m.p99_ms)
        ok = met == len(m.p99_ms)
        all_ok &= ok
        runs = ", ".join(f"{p:.1f}" for p in m.p99_ms)
        lines.append(
            f"latency p99 per run: {runs} ms (target <= {TARGET_P99_MS:g} ms in each: "
            f"{met} of {len(m.p99_ms)} runs, {_verdict(ok)})"
        )
    return lines, all_ok
