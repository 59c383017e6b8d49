"""Our own body: the event envelope (Event.envelope, docs/api.md)."""

from __future__ import annotations

import json

from deliveries.models import Event


def body(event: Event) -> bytes:
    """The exact bytes POSTed for an event: compact JSON, the same on every try.

    `data` (the envelope's last member) is the producer's own JSON text,
    spliced in as it was stored, so its numbers and key order arrive as sent.
    """
    envelope = event.envelope()
    del envelope["data"]
    head = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
    return f'{head[:-1]},"data":{event.data_text}}}'.encode()
