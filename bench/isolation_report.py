"""What the isolation benchmark prints: a phase's figures, what the bad
endpoints held, the database's view, the verdicts and the summary. Pure: the
callers read the receivers, the database and the settings."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.isolation_sampling import Sample
from bench.isolation_scenarios import BAD_MODES, Check, Scenario
from bench.publishers import Published
from bench.receipts import Arrivals
from bench.report import percentile, percentile_within, spread_ms


@dataclass
class PhaseResult:
    label: str  # "A/baseline"
    latencies: list[float]  # healthy publish-to-first-receipt within the bound, sorted
    expected: int  # healthy deliveries the phase's events owe
    offered_per_s: float
    throughput_per_s: float  # healthy first receipts while publishing, per second
    other_cpu: float = 0.0  # core-seconds the machine spent outside the benchmark
    claims_on_bad_max: int = 0

    @property
    def received(self) -> int:
        return len(self.latencies)

    @property
    def missing(self) -> int:
        return self.expected - self.received

    @property
    def p50(self) -> float | None:
        return percentile_within(self.latencies, 50, missing=self.missing)

    @property
    def p99(self) -> float | None:
        return percentile_within(self.latencies, 99, missing=self.missing)

    @property
    def throughput_ratio(self) -> float:
        return self.throughput_per_s / self.offered_per_s if self.offered_per_s else 0.0


@dataclass
class ScenarioResult:
    scenario: Scenario
    phases: list[PhaseResult] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


def phase_result(
    label: str, published: Sequence[Published], arrivals: Arrivals, expected: int
) -> PhaseResult:
    """Latency is receipt minus the start of the publish call; the window
    runs from the first publish's due time to the last publish's return."""
    start = min(p.scheduled for p in published)
    end = max(p.finished for p in published)
    by_id = {p.event_id: p for p in published}
    window = max(end - start, 1e-9)
    return PhaseResult(
        label=label,
        latencies=sorted(at - by_id[e].started for (e, _), at in arrivals.first.items()),
        expected=expected,
        offered_per_s=expected / window,
        throughput_per_s=sum(1 for at in arrivals.first.values() if at <= end) / window,
    )


def phase_lines(
    result: PhaseResult, published: Sequence[Published], arrivals: Arrivals, drain: float
) -> list[str]:
    calls = [p.finished - p.started for p in published]
    behind = sorted(p.started - p.scheduled for p in published)
    seconds = max(p.finished for p in published) - min(p.scheduled for p in published)
    return [
        f"published {len(published)} events in {seconds:.1f} s: {result.expected} healthy "
        f"deliveries offered, {result.offered_per_s:.1f}/s; publish call {spread_ms(calls)}; "
        f"start behind schedule p99 {percentile(behind, 99) * 1000:.1f} ms",
        f"healthy received within {drain:g} s of the last publish: "
        f"{result.received}/{result.expected} ({result.missing} missing, "
        f"{arrivals.duplicates} duplicates, {arrivals.late} after the bound, "
        f"{arrivals.unexpected} unexpected)",
        f"healthy publish-to-receipt: {spread_ms(result.latencies, result.missing)}",
        f"healthy throughput while publishing: {result.throughput_per_s:.1f}/s of "
        f"{result.offered_per_s:.1f}/s offered ({result.throughput_ratio:.1%})",
    ]


def bad_lines(
    scenario: Scenario,
    before: dict[str, dict[str, int]],
    after: dict[str, dict[str, int]],
    samples: Sequence[Sample],
    concurrency: int,
) -> list[str]:
    """What the bad receivers got (from their stats before and after the
    phase) and what they held (from the samples)."""
    modes = [m for m in BAD_MODES if scenario.bad.get(m)]
    counts = ", ".join(
        f"{m} {after[m]['requests'] - before[m]['requests']} requests "
        f"({after[m]['accepted'] - before[m]['accepted']} connections)"
        for m in modes
    )
    lines = [f"bad receivers got: {counts}"]
    if not samples:
        return [*lines, "worker slots: no samples"]

    def mm(values: Sequence[int]) -> str:
        return f"mean {sum(values) / len(values):.1f} max {max(values)}"

    lines += [
        f"worker slots ({len(samples)} samples): claims (batches) in flight holding a bad "
        f"delivery {mm([s.claims_on_bad for s in samples])} of {concurrency} pool processes; "
        f"all claims in flight {mm([s.claims for s in samples])}",
        f"deliveries in flight (sending): bad {mm([s.bad_in_flight for s in samples])}, "
        f"healthy {mm([s.healthy_in_flight for s in samples])}",
    ]
    for mode in modes:
        lines.append(
            f"{mode} receiver: connections open {mm([s.held[mode] for s in samples])}, "
            f"most at once {max(s.peak[mode] for s in samples)}"
        )
    return lines


def db_state_line(
    counts: dict[tuple[Any, str], int], bad_ids: Collection[Any], attempts: int
) -> str:
    """The phase's deliveries by status, healthy and bad apart, from
    (webhook id, status) -> count."""
    healthy: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    for (webhook_id, status), n in counts.items():
        (bad if webhook_id in bad_ids else healthy)[status] += n

    def show(c: Counter[str]) -> str:
        return ", ".join(f"{s} {n}" for s, n in sorted(c.items())) or "none"

    return f"database: healthy {show(healthy)}; bad {show(bad)}; {attempts} attempts recorded"


def check_line(check: Check, sep: str = "  ") -> str:
    return f"{'PASS' if check.ok else 'FAIL'}{sep}{check.what}"


def ms(x: float | None) -> str:
    return "beyond bound" if x is None else f"{x * 1000:.1f} ms"


def summary_lines(
    results: Sequence[ScenarioResult],
    args: argparse.Namespace,
    *,
    command: str,
    timeout: float,
    batch_size: int,
) -> tuple[list[str], bool]:
    """The summary block, and whether every target was met."""
    lines = [
        "",
        "==== summary",
        f"command: {command}",
        f"config: 1 worker x {args.concurrency} prefork processes, WEBHOOK_TIMEOUT="
        f"{timeout:g} s, WEBHOOK_BATCH_SIZE={batch_size}, "
        f"phases of {args.phase_seconds:g} s, bound {args.drain:g} s after the last publish",
    ]
    ok = True
    for r in results:
        for p in r.phases:
            lines.append(
                f"{p.label:12} healthy p50 {ms(p.p50)}, p99 {ms(p.p99)}; "
                f"{p.throughput_per_s:.1f}/s of {p.offered_per_s:.1f}/s offered "
                f"({p.throughput_ratio:.1%}); received {p.received}/{p.expected}; "
                f"other CPU {p.other_cpu:.1f} core-s"
            )
        verdicts = "; ".join(check_line(c, " ") for c in r.checks)
        lines.append(f"{r.scenario.name} verdict: {verdicts}")
        ok &= all(c.ok for c in r.checks)
    lines.append(f"all targets met: {'yes' if ok else 'NO'}")
    return lines, ok
