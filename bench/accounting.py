"""Where the CPU and the memory went, per process tree, read from /proc.

The parsing (`parse_stat`, `parse_cpu_line`, `descendants`) is pure, so it is
tested on canned text; the samplers read the live /proc.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")

ProcTable = dict[int, tuple[int, str, float]]  # pid -> (parent pid, command name, CPU s)


def parse_stat(raw: str) -> tuple[int, str, int]:
    """(parent pid, command name, CPU ticks) from a /proc/<pid>/stat line.

    CPU includes the children the process has reaped: PostgreSQL forks a
    backend per connection, and Celery's Django fixup closes the worker's
    connection around every task, so their CPU lands in the postmaster's
    cutime/cstime. A live process's own children are not in it: no double count.
    """
    # comm is in parentheses and may itself contain spaces or parentheses.
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return int(fields[1]), comm, ticks


def parse_cpu_line(line: str) -> tuple[int, int]:
    """(busy, steal) ticks from the first line of /proc/stat ("cpu  user nice
    system idle iowait irq softirq steal ..."): busy is all but idle and iowait
    of the first eight; steal is time a virtual machine's host gave our cores
    to someone else."""
    ticks = [int(x) for x in line.split()[1:]]
    return sum(ticks[:8]) - ticks[3] - ticks[4], ticks[7]


def proc_table() -> ProcTable:
    """Every process we can read, by pid."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid, comm, ticks = parse_stat(Path(f"/proc/{entry}/stat").read_text())
        except OSError:
            continue
        table[int(entry)] = (ppid, comm, ticks / CLK_TCK)
    return table


def descendants(table: Mapping[int, tuple[int, str, float]], roots: Sequence[int]) -> set[int]:
    """The roots still alive and every process below them."""
    members = {r for r in roots if r in table}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in table.items():
            if ppid in members and pid not in members:
                members.add(pid)
                grew = True
    return members


def kib_field(path: str, name: str) -> int:
    """A "Name:   123 kB" line of a /proc file, in bytes (0 if gone)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Peak memory of the worker process trees (main processes plus pool
    children), sampled every 0.2 s. RSS is what the brief asks for; summed over
    forked processes it counts shared copy-on-write pages once per process, so
    PSS (each shared page split among its sharers) is kept beside it.
    `phase_peak()` returns the peaks since its last call."""

    def __init__(self, roots: Sequence[int], interval: float = 0.2) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.roots = list(roots)
        self.interval = interval
        self.peak = (0, 0)  # (RSS, PSS) in bytes, each its own maximum
        self._phase_peak = (0, 0)
        self._done = threading.Event()
        self._lock = threading.Lock()

    def sample(self) -> tuple[int, int]:
        pids = descendants(proc_table(), self.roots)
        rss = sum(kib_field(f"/proc/{pid}/status", "VmRSS:") for pid in pids)
        pss = sum(kib_field(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in pids)
        return rss, pss

    def run(self) -> None:
        while not self._done.wait(self.interval):
            rss, pss = self.sample()
            with self._lock:
                self.peak = (max(self.peak[0], rss), max(self.peak[1], pss))
                self._phase_peak = (max(self._phase_peak[0], rss), max(self._phase_peak[1], pss))

    def phase_peak(self) -> tuple[int, int]:
        with self._lock:
            peak, self._phase_peak = self._phase_peak, (0, 0)
        return peak

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


@dataclass
class CpuGroups:
    """CPU seconds used by each part of the system, from /proc: our process
    trees by their roots, PostgreSQL and Redis by command name, and "machine"
    (all busy CPU, from /proc/stat) so that what nobody here used shows too."""

    roots: dict[str, list[int]]  # group -> main pids; their descendants count too
    # On a machine shared with other runs, the name of our database: only the
    # PostgreSQL backends serving it (by their process title) count as
    # "postgres". None: every PostgreSQL process does.
    postgres_database: str | None = None
    # Every redis-server counts as "redis"; False: only a tree in `roots` does.
    redis_by_name: bool = True

    def snapshot(self) -> dict[str, float]:
        table = proc_table()
        out: dict[str, float] = Counter()
        ours: set[int] = set()
        for group, roots in self.roots.items():
            tree = descendants(table, roots)
            ours |= tree
            for pid in tree:
                out[group] += table[pid][2]
        # This process alone: every other group descends from it.
        out["bench"] = table[os.getpid()][2]
        with open("/proc/stat") as f:
            busy, steal = parse_cpu_line(f.readline())
        out["machine"] = busy / CLK_TCK
        out["steal"] = steal / CLK_TCK
        out["wall"] = time.monotonic()
        for pid, (_, comm, cpu) in table.items():
            if pid in ours:
                continue  # counted in its group above
            if comm.startswith("postgres") and self._serves_our_database(pid):
                out["postgres"] += cpu
            elif comm.startswith("redis-server") and self.redis_by_name:
                out["redis"] += cpu
        return out

    def _serves_our_database(self, pid: int) -> bool:
        if self.postgres_database is None:
            return True
        try:  # a backend's title: "postgres: user database 127.0.0.1(port) idle"
            return f" {self.postgres_database} " in Path(f"/proc/{pid}/cmdline").read_text()
        except OSError:
            return False
