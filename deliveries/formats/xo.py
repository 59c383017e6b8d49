"""Xen Orchestra web hooks: type, callId, userId, userName, method, params,
timestamp, and for post hooks duration and result or error.

A call-hook event's data is exactly that body (the platform's call hooks
publish it so), and is sent as it was published. Any other event is told as
the post hook of a finished call: method is the event type, callId the event
id, params the event's data, timestamp its time, duration 0, result null."""

from __future__ import annotations

from typing import Any

from deliveries.formats.base import epoch_ms, json_object, text
from deliveries.models import Event


def is_call_hook(data: Any) -> bool:
    """Whether an event's data is an XO hook body already."""
    return (
        isinstance(data, dict)
        and data.get("type") in ("pre", "post")
        and isinstance(data.get("callId"), str)
        and isinstance(data.get("method"), str)
    )


def body(event: Event) -> bytes:
    if is_call_hook(event.data):
        return event.data_text.encode()
    return json_object(
        ("type", text("post")),
        ("callId", text(str(event.id))),
        ("userId", text(event.actor_id or None)),
        ("userName", text(event.actor_name or None)),
        ("method", text(event.type)),
        ("params", event.data_text),
        ("timestamp", text(epoch_ms(event.occurred_at))),
        ("duration", "0"),
        ("result", "null"),
    ).encode()
