"""The benchmark's receiver (bench/receiver.py): starting it, reading what it
recorded, and matching that with the deliveries a phase expects."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import requests

from bench.common import BENCH_DIR
from bench.procs import Children

Key = tuple[str, str]  # (event id, path): one delivery


@dataclass(frozen=True)
class Receipt:
    event_id: str
    path: str
    at: float  # time.time() at the receiver


class ReceiverClient:
    """Reads what bench/receiver.py recorded, over its control paths."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.session = requests.Session()

    def count(self) -> int:
        return int(self.session.get(f"{self.base}/_bench/count", timeout=10).text)

    def since(self, offset: int) -> list[Receipt]:
        text = self.session.get(f"{self.base}/_bench/records?since={offset}", timeout=60).text
        out = []
        for line in text.splitlines():
            event_id, path, at = line.split("\t")
            out.append(Receipt(event_id, path, float(at)))
        return out


def start_receiver(children: Children, env: dict[str, str]) -> ReceiverClient:
    """Start bench/receiver.py and wait for the port it says it listens on."""
    children.start("receiver", [sys.executable, str(BENCH_DIR / "receiver.py")], env, pipe=True)
    line = children.first_line("receiver")
    if not line.startswith("PORT "):
        raise RuntimeError(f"receiver said {line!r}\n{children.log_tail('receiver')}")
    return ReceiverClient(int(line.split()[1]))


def expected_keys(event_ids: Iterable[str], webhooks: int) -> set[Key]:
    """Every delivery of these events: each goes to webhook i at /hook/i."""
    return {(event_id, f"/hook/{i}") for event_id in event_ids for i in range(webhooks)}


@dataclass
class Arrivals:
    first: dict[Key, float] = field(default_factory=dict)  # first receipt
    total: int = 0  # requests for this phase's deliveries, repeats included
    missing: int = 0
    unexpected: int = 0  # requests for deliveries this phase never made
    late: int = 0  # requests for expected deliveries after the deadline (not in `first`)

    @property
    def duplicates(self) -> int:
        return self.total - len(self.first)


def match(
    receipts: Iterable[Receipt], expected: set[Key], deadline: float | None = None
) -> Arrivals:
    """What arrived of what was expected: first receipts, repeats, strangers;
    with a `deadline`, what arrived after it counts as late, not as arrived."""
    arrivals = Arrivals()
    for r in receipts:
        key = (r.event_id, r.path)
        if key not in expected:
            arrivals.unexpected += 1
        elif deadline is not None and r.at > deadline:
            arrivals.late += 1
        else:
            arrivals.total += 1
            arrivals.first.setdefault(key, r.at)
    arrivals.missing = len(expected) - len(arrivals.first)
    return arrivals


def collect_arrivals(
    receiver: ReceiverClient,
    offset: int,
    expected: set[Key],
    stall_timeout: float,
    children: Children,
) -> Arrivals:
    """Wait until every expected (event id, path) arrived or nothing moved for
    `stall_timeout`; then match what the receiver recorded since `offset`."""
    last_count, last_change = -1, time.monotonic()
    while True:
        children.check_alive()
        count = receiver.count() - offset
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        # Counting is cheap; reading and matching only once enough is in (a
        # duplicate can make the count reach the goal with one still missing).
        stalled = time.monotonic() - last_change > stall_timeout
        if count >= len(expected) or stalled:
            arrivals = match(receiver.since(offset), expected)
            if not arrivals.missing or stalled:
                return arrivals
        time.sleep(0.05)
