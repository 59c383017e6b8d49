"""Payload formats: the body a webhook's receiver gets, in our shape or in a
source system's (hooks.models.PayloadFormat).

Each builder is a pure function of the event. It runs once per event and
format in a batch (deliveries/pipeline/request.py keeps the bodies), never
once per delivery: one event fans out to many webhooks, and JSON encoding
is the costly part of building a request. A format that needs something of
the delivery (Tencent's sessionId, the delivery id) leaves a gap in its body
that `Body.for_delivery` fills by concatenation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from deliveries.formats import envelope
from deliveries.models import Event
from hooks.models import PayloadFormat


@dataclass(frozen=True, slots=True)
class Body:
    """A built body: `head` alone, or, when `tail` is set, head + the delivery
    id + tail (the id is a UUID's text: nothing in it needs JSON escaping)."""

    head: bytes
    tail: bytes | None = None

    def for_delivery(self, delivery_id: uuid.UUID) -> bytes:
        if self.tail is None:
            return self.head
        return b"".join((self.head, str(delivery_id).encode(), self.tail))


Builder = Callable[[Event], Body]


def _whole(build: Callable[[Event], bytes]) -> Builder:
    return lambda event: Body(build(event))


BUILDERS: dict[str, Builder] = {
    PayloadFormat.STANDARD: _whole(envelope.body),
}


def body_build(event: Event, payload_format: str) -> Body:
    """The body of `event` in `payload_format` (ours for an unknown one: a
    format removed from the code must not stop a webhook's deliveries)."""
    build = BUILDERS.get(payload_format, BUILDERS[PayloadFormat.STANDARD])
    return build(event)
