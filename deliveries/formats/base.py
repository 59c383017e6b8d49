"""What every payload format's builder shares: the built body, and JSON
objects assembled from members whose values are already JSON text (so the
producer's `data` text is spliced in as stored, never re-encoded)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from core import jsontext


@dataclass(frozen=True, slots=True)
class Body:
    """A built body: `head` alone, or, when `tail` is set, head + the delivery
    id + tail (a UUID's text: nothing in it needs JSON escaping), so a format
    that names the delivery costs a concatenation per delivery, not an encoding."""

    head: bytes
    tail: bytes | None = None

    def for_delivery(self, delivery_id: uuid.UUID) -> bytes:
        if self.tail is None:
            return self.head
        return b"".join((self.head, str(delivery_id).encode(), self.tail))


def json_object(*members: tuple[str, str]) -> str:
    """A compact JSON object of (name, JSON text of the value) pairs, in order."""
    return "{" + ",".join(f"{jsontext.dumps(name)}:{text}" for name, text in members) + "}"


def text(value: object) -> str:
    """The JSON text of a plain value."""
    return jsontext.dumps(value)


def epoch_ms(moment: dt.datetime) -> int:
    """Milliseconds since the Unix epoch, exact (no float on the way)."""
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)
