"""MyCloudIT's notification: Id, UserId, CustomerId, Type, ResourceId,
Timestamp, ActionData. CustomerId is the event's account (on whose behalf),
UserId its actor; what is not known is null."""

from __future__ import annotations

import datetime as dt

from deliveries.formats.base import json_object, text
from deliveries.models import Event


def timestamp(moment: dt.datetime) -> str:
    """.NET's round-trip form in UTC, seven fractional digits:
    2022-01-01T22:00:00.2111000Z."""
    utc = moment.astimezone(dt.UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0Z"


def body(event: Event) -> bytes:
    return json_object(
        ("Id", text(str(event.id))),
        ("UserId", text(event.actor_id or None)),
        ("CustomerId", text(str(event.account_id) if event.account_id else None)),
        ("Type", text(event.type)),
        ("ResourceId", text(event.resource_id or None)),
        ("Timestamp", text(timestamp(event.occurred_at))),
        ("ActionData", event.data_text),
    ).encode()
