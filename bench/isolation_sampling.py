"""What the bad endpoints hold while a phase runs, sampled in a thread: their
deliveries in flight, the worker's claims (batches) stuck on one of them, and
the connections the hostile receiver holds open."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from bench.isolation_scenarios import BAD_MODES
from bench.isolation_stack import HostileClient


@dataclass
class Sample:
    bad_in_flight: int  # deliveries of bad webhooks in status sending
    healthy_in_flight: int
    claims: int  # distinct claim tokens among the sending rows: batches in progress
    claims_on_bad: int  # ... of which hold at least one bad delivery
    held: dict[str, int]  # hostile receiver: connections open now, per mode
    peak: dict[str, int]  # ... most at once since the previous sample


def make_sample(
    sending: Iterable[tuple[Any, Any]],
    bad: Collection[Any],
    stats: dict[str, dict[str, int]],
) -> Sample:
    """A sample from the (webhook id, claim token) of every delivery in
    flight, the bad webhooks' ids and the hostile receiver's stats."""
    rows = list(sending)
    return Sample(
        bad_in_flight=sum(1 for w, _ in rows if w in bad),
        healthy_in_flight=sum(1 for w, _ in rows if w not in bad),
        claims=len({t for _, t in rows}),
        claims_on_bad=len({t for w, t in rows if w in bad}),
        held={m: stats[m]["held"] for m in BAD_MODES},
        peak={m: stats[m]["peak"] for m in BAD_MODES},
    )


class Sampler(threading.Thread):
    """Samples every `interval` s until `stop`; a failed sample is kept in
    `errors` and the next one tried (a sample lost is not a phase lost)."""

    def __init__(self, bad: Collection[Any], hostile: HostileClient, interval: float) -> None:
        super().__init__(daemon=True, name="sampler")
        self.bad = bad
        self.hostile = hostile
        self.interval = interval
        self.samples: list[Sample] = []
        self.done = threading.Event()
        self.errors: list[BaseException] = []

    def sample(self) -> Sample:
        from deliveries.models import Delivery, DeliveryStatus

        sending = Delivery.objects.filter(status=DeliveryStatus.SENDING).values_list(
            "webhook_id", "claim_token"
        )
        return make_sample(sending, self.bad, self.hostile.stats())

    def run(self) -> None:
        from django.db import connection

        try:
            self.hostile.stats()  # resets the peaks
            while not self.done.wait(self.interval):
                try:
                    self.samples.append(self.sample())
                except Exception as exc:
                    self.errors.append(exc)
        finally:
            connection.close()

    def stop(self) -> list[Sample]:
        self.done.set()
        self.join(timeout=10)
        return self.samples
