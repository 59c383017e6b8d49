"""CloudStack's body: the event description its management server puts on the
event bus and its webhooks POST (a flat object of strings: user, account,
event, status, entity, entityuuid, description, eventDateTime), with the
producer's `data` added as a last member. Its X-CS-* headers come from the
webhook's header style, as for any format."""

from __future__ import annotations

import datetime as dt

from deliveries.formats.base import json_object, text
from deliveries.models import Event

# CloudStack's event states; an event whose data names none is a completed one.
STATES = frozenset({"Created", "Scheduled", "Started", "Completed"})


def event_date_time(moment: dt.datetime) -> str:
    """CloudStack's "yyyy-MM-dd HH:mm:ss Z", in UTC."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


def body(event: Event) -> bytes:
    data = event.data if isinstance(event.data, dict) else {}
    status = data.get("status")
    description = data.get("description")
    return json_object(
        ("user", text(event.actor_id)),
        ("account", text(str(event.account_id) if event.account_id else "")),
        ("event", text(event.type)),
        ("status", text(status if status in STATES else "Completed")),
        ("entity", text(event.resource_type)),
        ("entityuuid", text(event.resource_id)),
        ("description", text(description if isinstance(description, str) else "")),
        ("eventDateTime", text(event_date_time(event.occurred_at))),
        ("data", event.data_text),
    ).encode()
