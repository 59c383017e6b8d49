"""Child processes of a benchmark: started in their own sessions, watched,
and stopped in order, each whole process group at once."""

from __future__ import annotations

import os
import re
import selectors
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path


class Children:
    """Processes this script started; each in its own session so that Ctrl-C
    reaches only us, and we stop them in order, whole process group at once
    (a Celery prefork worker's pool children included)."""

    def __init__(self, log_dir: Path, cwd: Path) -> None:
        self.log_dir = log_dir
        self.cwd = cwd
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, cmd: list[str], env: dict[str, str], *, pipe: bool = False
    ) -> subprocess.Popen[bytes]:
        # Appending: a child started again under the same name (the isolation
        # benchmark's worker, once per scenario) keeps its predecessor's log.
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
        proc = subprocess.Popen(
            cmd,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe else log,
            stderr=log,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"  {name}| {line}" for line in text)

    def first_line(self, name: str, timeout: float = 15) -> str:
        """The first line a child started with `pipe=True` prints (its port,
        say), waiting at most `timeout` for it."""
        proc = self.procs[name]
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=timeout):
                raise TimeoutError(f"{name} did not start\n{self.log_tail(name)}")
        return proc.stdout.readline().decode()

    def last_error(self, name: str) -> str:
        """The last exception line ("module.SomeError: message") in a child's log."""
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        errors = re.findall(r"^[\w.]*(?:Error|Exception)\b.*$", text, re.MULTILINE)
        return errors[-1] if errors else ""

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}\n{self.log_tail(name)}")

    def wait_until(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        """Poll `check` until it answers true (an exception counts as not yet),
        failing at once if one of the children died meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            with suppress(Exception):
                if check():
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")
            time.sleep(0.1)

    def stop(self, name: str, timeout: float = 10) -> None:
        """Stop one child (if it runs), whole process group."""
        proc = self.procs.pop(name, None)
        if proc is not None:
            _terminate([proc], timeout)

    def stop_all(self, timeout: float = 15) -> None:
        # Reverse order: web and workers before the receiver they talk to.
        _terminate(list(reversed(self.procs.values())), timeout)
        self.procs.clear()


def _terminate(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM to every group at once, then wait `timeout` in all; SIGKILL to
    whatever is left (a pool process still in a hung request, say)."""
    for proc in procs:
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        # The pool children of a worker may outlive its main process briefly.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.stdout is not None:
            proc.stdout.close()


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when this script dies, even by
    SIGKILL, so no orphaned worker goes on consuming the benchmark's queue."""
    import ctypes

    pr_set_pdeathsig = 1
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def run_checked(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float) -> str:
    """Run a command to its end; its stdout, or RuntimeError with both outputs."""
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{shlex.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout
