"""Where a delivery's time goes: the per-stage account of a phase.

For every delivery that succeeded at its first attempt, the time from the
publish call to the record is cut at the moments the records and the
receiver know:

    publish      publish call starts          -> the delivery row is written
                 (event row, matching, the deliveries' INSERT: in the transaction)
    wake-up      delivery row written          -> its attempt starts
                 (commit, the Celery message through Redis, the worker taking it,
                 the claim statement, loading events and webhooks)
    request      attempt starts                -> the receiver has the request
                 (the batch's bodies and signatures, curl, the wire)
    record       receiver has it               -> the delivery row says succeeded
                 (the answer back, waiting for the rest of the batch's group,
                 the record statements)

publish + wake-up + request is the publish-to-receipt latency. Beside them,
`transfer` is curl's own time for the request (the attempt's recorded
duration, whole milliseconds): from when curl began it, which is after the
attempt's start when a batch holds many requests.

All clocks are this machine's wall clock (time.time() here and at the
receiver, timestamps in the database).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from urllib.parse import urlsplit

from bench.publishers import Published
from bench.receipts import Key
from bench.report import percentile

STAGES = ("publish", "wake-up", "request", "record", "transfer")


@dataclass(frozen=True)
class Recorded:
    """What the database says of one delivery's first attempt."""

    event_id: str
    path: str  # the receiver path of its webhook (/hook/i)
    created_at: float
    attempt_started_at: float
    attempt_ms: int
    finished_at: float


@dataclass
class StageAccount:
    """Seconds per stage, one value per delivery accounted for."""

    stages: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    started: list[float] = field(default_factory=list)  # each delivery's publish call start
    skipped: int = 0  # deliveries without a clean first attempt, or never received

    @property
    def count(self) -> int:
        return len(self.stages[STAGES[0]])


def stage_account(
    published: Iterable[Published],
    received: Mapping[Key, float],
    recorded: Iterable[Recorded],
) -> StageAccount:
    """Cut each received delivery's time into STAGES (pure: tested alone)."""
    started = {p.event_id: p.started for p in published}
    account = StageAccount()
    for r in recorded:
        at = received.get((r.event_id, r.path))
        begun = started.get(r.event_id)
        if at is None or begun is None:
            account.skipped += 1
            continue
        cuts = [begun, r.created_at, r.attempt_started_at, at, r.finished_at]
        for name, (a, b) in zip(STAGES, pairwise(cuts), strict=False):
            account.stages[name].append(b - a)
        account.stages["transfer"].append(r.attempt_ms / 1000)
        account.started.append(begun)
    return account


def recorded_first_attempts(phase: str) -> list[Recorded]:
    """The phase's deliveries that succeeded at their first attempt, as recorded."""
    from deliveries.models import DeliveryAttempt

    rows = DeliveryAttempt.objects.filter(
        delivery__event__resource_type=phase,
        delivery__status="succeeded",
        delivery__attempts=1,
        number=1,
    ).values_list(
        "delivery__event_id",
        "delivery__webhook__payload_url",
        "delivery__created_at",
        "started_at",
        "duration_ms",
        "delivery__finished_at",
    )

    def ts(value: dt.datetime) -> float:
        return value.timestamp()

    return [
        Recorded(str(event_id), urlsplit(url).path, ts(created), ts(started), ms, ts(finished))
        for event_id, url, created, started, ms, finished in rows.iterator(chunk_size=5000)
    ]


def stage_lines(account: StageAccount) -> list[str]:
    """p50 / p99 per stage."""
    if not account.count:
        return ["stages: no delivery to account for"]

    def ms(values: list[float], pct: float) -> str:
        return f"{percentile(sorted(values), pct) * 1000:.1f}"

    parts = [f"{name} {ms(v, 50)} / {ms(v, 99)}" for name, v in account.stages.items()]
    skipped = f", {account.skipped} not accounted (retried or not received)" * bool(account.skipped)
    return [
        f"stages, p50 / p99 ms, {account.count} deliveries{skipped}:",
        "  " + ";  ".join(parts),
    ]


def window_lines(account: StageAccount, width: float) -> list[str]:
    """The account over time: per `width` seconds of publishing, p99 of the
    publish-to-receipt latency and of the stages in it. A tail that comes in
    bursts (a stall, a circuit opening) shows in one window; one spread
    evenly shows in all."""
    if not account.count:
        return []
    t0 = min(account.started)
    windows: dict[int, list[int]] = {}
    for i, begun in enumerate(account.started):
        windows.setdefault(int((begun - t0) // width), []).append(i)
    parts = STAGES[:3]
    lines = [f"over time, per {width:g} s of publishing: p99 ms of latency = {' + '.join(parts)}"]
    for w in sorted(windows):
        rows = windows[w]
        latency = sorted(sum(account.stages[s][i] for s in parts) for i in rows)
        stage_p99 = "  ".join(
            f"{s} {percentile(sorted(account.stages[s][i] for i in rows), 99) * 1000:.0f}"
            for s in parts
        )
        lines.append(
            f"  +{w * width:>3.0f} s: {len(rows):>5} deliveries, p99 "
            f"{percentile(latency, 99) * 1000:6.1f} ({stage_p99})"
        )
    return lines
