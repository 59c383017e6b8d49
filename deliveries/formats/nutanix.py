"""Nutanix v3 webhook notifications: {"version": "1.0", "data": ...,
"event_type": "VM.ON", "entity_reference": {"kind": "vm", "uuid": ...}}.

`data` is the producer's (for Nutanix, the v3 API's answer about the
entity). For a delete (VM.DELETE, SUBNET.DELETE: any *.DELETE) Nutanix sends
the entity's uuid but no metadata, so there is no `data` member."""

from __future__ import annotations

from deliveries.formats.base import json_object, text
from deliveries.models import Event


def entity_kind(event: Event) -> str:
    """Nutanix names events KIND.ACTION (VM.ON): the kind is the type's first
    part, lower case; a type without a dot falls back to the resource type."""
    prefix, dot, _ = event.type.partition(".")
    return (prefix if dot else event.resource_type).lower()


def is_delete(event_type: str) -> bool:
    return event_type.upper().endswith(".DELETE")


def body(event: Event) -> bytes:
    reference = json_object(("kind", text(entity_kind(event))), ("uuid", text(event.resource_id)))
    data = [] if is_delete(event.type) else [("data", event.data_text)]
    return json_object(
        ("version", text("1.0")),
        *data,
        ("event_type", text(event.type)),
        ("entity_reference", reference),
    ).encode()
