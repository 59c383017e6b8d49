"""Tencent Cloud's alarm callback: sessionId, alarmStatus, alarmObjInfo,
alarmPolicyInfo.

sessionId is the delivery's id (the receiver echoes it in its
acknowledgement), so the body is built with a gap for it, once per event.
An event whose data carries the alarm members sends those, as published;
one that carries none of them sends our envelope's members after the
sessionId, so a receiver can still acknowledge it and read everything."""

from __future__ import annotations

from core import jsontext
from deliveries.formats.base import Body, json_object
from deliveries.formats.envelope import body as envelope_body
from deliveries.models import Event

ALARM_MEMBERS = ("alarmStatus", "alarmObjInfo", "alarmPolicyInfo")
HEAD = b'{"sessionId":"'


def body(event: Event) -> Body:
    # The stored text, not the jsonb value: numbers and key order as sent.
    data = jsontext.loads(event.data_text)
    if isinstance(data, dict) and any(name in data for name in ALARM_MEMBERS):
        members = [(name, jsontext.dumps(data[name])) for name in ALARM_MEMBERS if name in data]
        rest = json_object(*members).encode()
    else:
        rest = envelope_body(event)
    return Body(HEAD, b'",' + rest[1:])
