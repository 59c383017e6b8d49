"""Publishing the benchmark's events: from Python (the service the API calls)
or over the REST API, from a pool of threads, timing every call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from queue import Queue
from typing import Any

import requests

EVENT_TYPE = "bench.event"


def event_payload(seq: int, phase: str) -> dict[str, Any]:
    """A small, CloudStack-like event (about 300 bytes as delivered)."""
    return {
        "type": EVENT_TYPE,
        "resource": {"id": f"vm-{seq}", "type": phase},
        "data": {
            "seq": seq,
            "vm": {"name": f"bench-vm-{seq}", "state": "Running", "zone": "zone-1"},
            "offering": {"cpus": 2, "memory_mb": 4096},
        },
    }


class Publisher:
    """Publishes events and returns their ids. Called from several threads."""

    label = ""

    def publish(self, seqs: Sequence[int], phase: str) -> list[str]:
        """One event per seq; more than one: all in one call (one request, one transaction)."""
        raise NotImplementedError

    def thread_done(self) -> None:
        """Release what the calling thread holds (a session, a DB connection)."""


class ApiPublisher(Publisher):
    label = "api"

    def __init__(self, port: int, token: str) -> None:
        self.url = f"http://127.0.0.1:{port}/api/v1/events/"
        self.token = token
        self.local = threading.local()

    def publish(self, seqs: Sequence[int], phase: str) -> list[str]:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
            # The web server is on 127.0.0.1: no proxy or .netrc from the
            # environment applies (an HTTP_PROXY set on the machine would
            # otherwise carry the benchmark through it), and looking them up
            # for every request was a quarter of this client's CPU per call.
            session.trust_env = False
            session.headers["Authorization"] = f"Token {self.token}"
        if len(seqs) == 1:
            body: Any = event_payload(seqs[0], phase)
            response = session.post(self.url, json=body, timeout=30)
        else:
            body = {"events": [event_payload(seq, phase) for seq in seqs]}
            response = session.post(f"{self.url}batch/", json=body, timeout=60)
        if response.status_code != 202:
            raise RuntimeError(f"publish: HTTP {response.status_code} {response.text[:300]}")
        answer = response.json()
        return [item["id"] for item in answer] if len(seqs) > 1 else [answer["id"]]

    def thread_done(self) -> None:
        session = getattr(self.local, "session", None)
        if session is not None:
            session.close()


class PythonPublisher(Publisher):
    """Publishes through deliveries.publishing.event_publish in this process;
    each event for the account `account_for(seq)` names (None: no account, as
    the root admin publishes)."""

    label = "python"

    def __init__(self, account_for: Callable[[int], Any] | None = None) -> None:
        self.account_for = account_for

    def publish(self, seqs: Sequence[int], phase: str) -> list[str]:
        from django.db import transaction

        from deliveries.publishing import event_publish

        def one(seq: int) -> str:
            body = event_payload(seq, phase)
            result = event_publish(
                type=body["type"],
                data=body["data"],
                account=self.account_for(seq) if self.account_for else None,
                resource_id=body["resource"]["id"],
                resource_type=phase,
            )
            return str(result.event.id)

        if len(seqs) == 1:
            # As a producer publishes one event: the call alone, which on
            # PostgreSQL is one statement with no transaction of its own
            # (a transaction around it was a BEGIN and a COMMIT more).
            return [one(seqs[0])]
        with transaction.atomic():  # as the batch endpoint does: all or none
            return [one(seq) for seq in seqs]

    def thread_done(self) -> None:
        from django.db import connection

        connection.close()  # per-thread: Django keeps one connection per thread


@dataclass
class Published:
    event_id: str
    seq: int
    scheduled: float  # time.time() the call was due (latency phase), else its start
    started: float  # time.time() just before the publish call
    finished: float


class PublishPool:
    """Threads taking (seqs, scheduled) jobs from a queue and publishing them.

    A failed publish stops the benchmark: a half-published phase measures nothing.
    """

    def __init__(self, publisher: Publisher, threads: int, phase: str) -> None:
        self.publisher = publisher
        self.phase = phase
        self.jobs: Queue[tuple[list[int], float] | None] = Queue()
        self.results: list[Published] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, daemon=True, name=f"publish-{i}")
            for i in range(threads)
        ]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                if self.errors:
                    continue  # drain quickly once something failed
                seqs, scheduled = job
                started = time.time()
                try:
                    event_ids = self.publisher.publish(seqs, self.phase)
                except Exception as exc:
                    with self._lock:
                        self.errors.append(exc)
                    continue
                finished = time.time()
                items = [
                    Published(event_id, seq, scheduled or started, started, finished)
                    for event_id, seq in zip(event_ids, seqs, strict=True)
                ]
                with self._lock:
                    self.results.extend(items)
        finally:
            self.publisher.thread_done()

    def submit(self, seqs: list[int], scheduled: float = 0.0) -> None:
        self.jobs.put((seqs, scheduled))

    def close(self, timeout: float) -> list[Published]:
        for _ in self.threads:
            self.jobs.put(None)
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(timeout=max(0.1, deadline - time.monotonic()))
            if t.is_alive():
                raise TimeoutError(f"publishing did not finish within {timeout:.0f} s")
        if self.errors:
            raise RuntimeError(f"publishing failed: {self.errors[0]!r}") from self.errors[0]
        return self.results


def submit_on_schedule(pool: PublishPool, rate: float, total: int, first_seq: int = 0) -> None:
    """Submit `total` events, one every 1/`rate` s from now, each with the time
    it was due; stop early once a publish failed (`close` then raises)."""
    start = time.time() + 0.05
    for k in range(total):
        due = start + k / rate
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        if pool.errors:
            break
        pool.submit([first_seq + k], scheduled=due)
