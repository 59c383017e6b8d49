"""The worker id recorded on each attempt (deliveries/pipeline/worker.py)."""

from __future__ import annotations

import os
import socket

from deliveries.pipeline import worker
from deliveries.pipeline.worker import worker_id


def test_it_is_host_and_pid():
    assert worker_id() == f"{socket.gethostname()}:{os.getpid()}"


def test_a_forked_child_gets_its_own(monkeypatch):
    worker_id()  # cached by the "parent"
    monkeypatch.setattr(os, "getpid", lambda: 424242)

    assert worker_id() == f"{socket.gethostname()}:424242"
    monkeypatch.undo()
    assert worker.worker_id().endswith(f":{os.getpid()}")
