"""`Bench`: everything a phase or the report needs about the running system,
in one object, so they take one argument instead of seven."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from bench.accounting import CpuGroups, RssSampler
from bench.procs import Children
from bench.publishers import Publisher
from bench.receipts import ReceiverClient


@dataclass
class Results:
    """What the phases measured, for the summary."""

    deliveries_per_s: float | None = None
    recorded_per_s: float | None = None
    events_per_s: float | None = None
    cost_ms: float | None = None  # CPU per delivery, all but the receiver (bench.targets)
    latency: list[float] = field(default_factory=list)  # the last latency run's, seconds
    latency_p99_ms: list[float] = field(default_factory=list)  # one per latency run
    ok: bool = True


@dataclass
class Bench:
    """The system under test, started by `bench.stack.running`."""

    args: argparse.Namespace  # the command line (bench/run.py)
    var_dir: Path  # the children's VAR_DIR and logs
    children: Children  # receiver, workers and (--via api) gunicorn
    receiver: ReceiverClient
    publisher: Publisher
    cpu: CpuGroups
    rss: RssSampler  # peak memory of the workers
    results: Results = field(default_factory=Results)

    @property
    def worker_names(self) -> list[str]:
        return [f"worker{i}" for i in range(self.args.workers)]
