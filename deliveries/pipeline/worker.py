"""Which process sends: recorded on every attempt (CloudStack records the
management server that made a delivery), so an operator can tell which
machine and process a bad run of attempts came from."""

from __future__ import annotations

import os
import socket

_cached: tuple[int, str] | None = None


def worker_id() -> str:
    """This process as "<host>:<pid>", computed once per process. Checked
    against the pid on each call: a Celery prefork child is a fork of the
    parent, which may have computed it already."""
    global _cached
    pid = os.getpid()
    if _cached is None or _cached[0] != pid:
        _cached = (pid, f"{socket.gethostname()}:{pid}")
    return _cached[1]
