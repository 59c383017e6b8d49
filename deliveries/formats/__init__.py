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

from collections.abc import Callable

from deliveries.formats import cloudstack, envelope, mycloudit, nutanix, tencent, xo
from deliveries.formats.base import Body
from deliveries.models import Event
from hooks.models import PayloadFormat

__all__ = ["BUILDERS", "Body", "body_build"]

Builder = Callable[[Event], Body]


def _whole(build: Callable[[Event], bytes]) -> Builder:
    return lambda event: Body(build(event))


BUILDERS: dict[str, Builder] = {
    PayloadFormat.STANDARD: _whole(envelope.body),
    PayloadFormat.CLOUDSTACK: _whole(cloudstack.body),
    PayloadFormat.NUTANIX: _whole(nutanix.body),
    PayloadFormat.MYCLOUDIT: _whole(mycloudit.body),
    PayloadFormat.XO: _whole(xo.body),
    PayloadFormat.TENCENT: tencent.body,
}


def body_build(event: Event, payload_format: str) -> Body:
    """The body of `event` in `payload_format` (ours for an unknown one: a
    format removed from the code must not stop a webhook's deliveries)."""
    build = BUILDERS.get(payload_format, BUILDERS[PayloadFormat.STANDARD])
    return build(event)
