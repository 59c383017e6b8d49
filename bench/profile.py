"""CPU per stage: py-spy samples of the worker (and the web server), each
sample put in the pipeline stage its stack is in.

py-spy samples what runs, not what waits (idle threads are left out; in a
process of several threads, only the one holding the GIL: `--gil`), so a
stage's share of the samples is about its share of the process's CPU time
(an estimate: the sampling is at 100 Hz, and the two modes' notions of
"running" are not the kernel's); times the
process's CPU seconds over the deliveries, that is the stage's CPU per
delivery. A sample goes to the first stage of the rules one of its stack's
frames matches: the record step runs inside the send loop's callback and a
refill's claim inside the send loop, so they are looked for before "send".
py-spy itself runs as a child of the benchmark: its CPU shows as "other".
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

# (stage, what a frame of the stack contains to put it there), first match
# wins. A frame reads "function (path/to/file.py:line)": "name (" is a
# function, a path fragment a module.
Rules = Sequence[tuple[str, tuple[str, ...]]]
WORKER_RULES: Rules = (
    ("claim", ("deliveries_claim (", "_release (")),
    ("record", ("outcomes_record (", "attempt_build (")),
    ("health", ("endpoints_update (", "endpoints_gone (")),
    ("build", ("delivery_request (",)),
    ("send", ("send_many (",)),
    ("task", ("trace_task (", "celery/app/trace.py")),
    # The worker's main process (consumer: Redis, the pool's pipes) and the
    # pool processes' side of those pipes.
    ("celery", ("celery/", "kombu/", "billiard/")),
)
# The publishing side: the web server's request threads, or for --via python
# this process's publishing threads. The queueing runs in the commit's
# on_commit callbacks, inside the transaction's exit: looked for first.
PUBLISH_RULES: Rules = (
    # The wake-up thread (deliveries/wakeups.py) sends the messages now.
    ("enqueue", ("deliveries_enqueue (", "deliveries/wakeups.py")),
    ("publish", ("event_publish (", "events_publish (")),
    ("commit", ("django/db/transaction.py",)),
    ("auth", ("authenticate (",)),
    ("http", ("gunicorn/", "django/core/handlers/", "rest_framework/")),
    ("bench", ("bench/",)),
)


def classify(stack: str, rules: Rules) -> str:
    frames = stack.split(";")
    for stage, needles in rules:
        if any(needle in frame for frame in frames for needle in needles):
            return stage
    return "other"


def stage_shares(lines: Iterable[str], rules: Rules) -> Counter[str]:
    """Samples per stage, from py-spy's raw (collapsed) output lines."""
    counts: Counter[str] = Counter()
    for line in lines:
        stack, _, n = line.rstrip("\n").rpartition(" ")
        if stack and n.isdigit():
            counts[classify(stack, rules)] += int(n)
    return counts


def shares_line(
    label: str, counts: Counter[str], cpu_seconds: float, deliveries: int, stages: Sequence[str]
) -> str:
    total = sum(counts.values())
    if not total or not deliveries:
        return f"{label} CPU by stage: no samples"
    parts = []
    for stage in [*stages, "other"]:
        share = counts.get(stage, 0) / total
        per_delivery = share * cpu_seconds / deliveries * 1000
        parts.append(f"{stage} {share:.0%} {per_delivery:.3f} ms")
    return (
        f"{label} CPU by stage (py-spy, {total} samples; share, CPU ms per delivery): "
        + ";  ".join(parts)
    )


def order(rules: Rules) -> list[str]:
    return [stage for stage, _ in rules]


class Profiler:
    """py-spy recording one process tree while a phase runs."""

    def __init__(
        self, pid: int, out: Path, *, subprocesses: bool, threaded: bool, rate: int = 100
    ) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(exe).exists():
            raise RuntimeError("--profile needs py-spy: pip install py-spy")
        self.out = out
        cmd = [exe, "record", "--pid", str(pid), "--nonblocking"]
        if threaded:
            # Only the thread holding the GIL: threads waiting for it would
            # count as busy too (publishing threads, gunicorn's gthreads).
            cmd.append("--gil")
        if subprocesses:
            cmd.append("--subprocesses")
        cmd += ["--format", "raw", "--rate", str(rate), "-o", str(out)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self, rules: Rules) -> Counter[str]:
        # Ctrl-C is how py-spy is told to write what it sampled.
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise RuntimeError("py-spy did not stop") from None
        if not self.out.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.decode(errors='replace')[-300:]}")
        with self.out.open() as f:
            return stage_shares(f, rules)
