"""The isolation benchmark's scenarios and the targets of issue 9 (pure).

Each scenario mixes healthy webhooks with bad ones (hostile.py's modes:
hang, fail, slow); `verdict` says which of its targets a run met.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

BAD_MODES = ("hang", "fail", "slow")


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    healthy: int
    bad: dict[str, int]  # mode -> how many webhooks
    rate: float  # events per second
    local: bool  # one account per webhook, each event for one account in turn
    p99_factor: float  # target: bad-phase healthy p99 <= factor x baseline's
    min_throughput: float | None  # target: healthy received while publishing / offered
    lossless: bool  # target: every healthy delivery received within the bound

    @property
    def webhooks(self) -> int:
        return self.healthy + sum(self.bad.values())

    def layout(self) -> list[str]:
        """The mode of each webhook by index ("ok" or a bad mode), the bad ones
        spread evenly among the healthy and their modes interleaved."""
        left = {m: self.bad.get(m, 0) for m in BAD_MODES}
        order: list[str] = []  # hang, fail, hang, fail... rather than all hangs first
        while any(left.values()):
            for m in BAD_MODES:
                if left[m]:
                    order.append(m)
                    left[m] -= 1
        out = ["ok"] * self.webhooks
        if order:
            stride = self.webhooks / len(order)
            for k, mode in enumerate(order):
                out[math.floor(k * stride)] = mode
        return out


def _ten_healthy_and(name: str, bad: dict[str, int], what: str, rate: float) -> Scenario:
    """10 healthy webhooks and a few bad ones, all seeing every event (A, C)."""
    return Scenario(
        name,
        f"10 healthy + {what}, global scope, {rate:g} events/s",
        healthy=10,
        bad=bad,
        rate=rate,
        local=False,
        p99_factor=1.5,
        min_throughput=0.95,
        lossless=False,
    )


def scenarios(args: argparse.Namespace) -> dict[str, Scenario]:
    """A, B and C at the rates (and slow delay) on the command line."""
    return {
        "A": _ten_healthy_and("A", {"hang": 2}, "2 hanging webhooks", args.rate_a),
        "B": Scenario(
            "B",
            f"200 local webhooks (one account each), 20 hanging + 20 answering 500, "
            f"{args.rate_b:g} events/s, each for one account",
            healthy=160,
            bad={"hang": 20, "fail": 20},
            rate=args.rate_b,
            local=True,
            p99_factor=2.0,
            min_throughput=None,
            lossless=True,
        ),
        "C": _ten_healthy_and(
            "C",
            {"slow": 2},
            f"2 slow webhooks (answer after {args.slow_seconds:g} s)",
            args.rate_c,
        ),
    }


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool


def verdict(
    *,
    baseline_p99: float | None,
    p99: float | None,
    p99_factor: float,
    throughput_ratio: float,
    min_throughput: float | None,
    missing: int,
    lossless: bool,
) -> list[Check]:
    """The targets of one scenario, each met or not. A p99 of None (beyond the
    bound: too many deliveries missing) never meets a target; nor does a
    baseline without one (the comparison would mean nothing)."""
    checks = []
    if baseline_p99 is None or p99 is None:
        shown = "beyond the bound" if p99 is None else f"{p99 * 1000:.1f} ms"
        base = "beyond the bound" if baseline_p99 is None else f"{baseline_p99 * 1000:.1f} ms"
        checks.append(
            Check(f"healthy p99 {shown} (target <= {p99_factor:g} x baseline {base})", False)
        )
    else:
        ratio = p99 / baseline_p99 if baseline_p99 > 0 else math.inf
        checks.append(
            Check(
                f"healthy p99 {p99 * 1000:.1f} ms = {ratio:.2f} x baseline "
                f"{baseline_p99 * 1000:.1f} ms (target <= {p99_factor:g} x)",
                ratio <= p99_factor,
            )
        )
    if min_throughput is not None:
        checks.append(
            Check(
                f"healthy throughput {throughput_ratio:.1%} of offered "
                f"(target >= {min_throughput:.0%})",
                throughput_ratio >= min_throughput,
            )
        )
    if lossless:
        checks.append(Check(f"healthy deliveries lost: {missing} (target 0)", missing == 0))
    return checks
