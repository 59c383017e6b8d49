"""Call hooks (Xen Orchestra's web-hooks): which calls a webhook asks for.

A call of an API method (`vm.start`, `webhook.create`) publishes a `call.pre`
event when it starts and a `call.post` event when it ends. A webhook asks for
them by method pattern and phase, as an XO hook is configured (Method; Type:
pre, post or both). These are pure rules on a webhook's two fields, kept apart
from the event type filter (Webhook.wants) on purpose: the two never mix.

- Call events reach only webhooks with call methods, whatever their event
  types say: `"*"` or `"call.*"` in event_types never lets one through.
- A webhook with call methods and no event types is a call hook only: it gets
  no ordinary events (for it an empty event_types means none, not all).
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

from hooks.patterns import patterns_match


class CallPhase(models.TextChoices):
    PRE = "pre", "pre (when the call starts)"
    POST = "post", "post (when the call has ended)"
    BOTH = "both", "pre and post"


# The event types of call events: reserved, a producer cannot publish them
# over the API (deliveries.serializers refuses the prefix).
CALL_EVENT_PREFIX = "call."
CALL_PRE = "call.pre"
CALL_POST = "call.post"
CALL_EVENT_TYPES = frozenset({CALL_PRE, CALL_POST})
PHASE_OF_TYPE = {CALL_PRE: CallPhase.PRE, CALL_POST: CallPhase.POST}

# Methods are dotted names (vm.start, webhook.rotateSecret); patterns add '*'.
METHOD_RE = re.compile(r"\A[A-Za-z0-9._-]{1,128}\Z")
METHOD_PATTERN_RE = re.compile(r"\A[A-Za-z0-9._*-]{1,128}\Z")
MAX_CALL_METHODS = 100


def validate_call_methods(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValidationError("Must be a list of method patterns (strings).")
    if len(value) > MAX_CALL_METHODS:
        raise ValidationError(f"At most {MAX_CALL_METHODS} method patterns.")
    for pattern in value:
        if not METHOD_PATTERN_RE.match(pattern):
            raise ValidationError(
                f"{pattern!r} is not a valid method pattern: use letters, digits, "
                "'.', '_', '-' and '*'."
            )


def phase_wanted(call_phase: str, phase: str) -> bool:
    return call_phase == CallPhase.BOTH or call_phase == phase


def call_wanted(*, call_methods: list[str], call_phase: str, method: str, phase: str) -> bool:
    """Whether a webhook with these settings gets the `phase` event of a call
    of `method`. No patterns: no call events at all."""
    return (
        bool(call_methods)
        and phase_wanted(call_phase, phase)
        and patterns_match(call_methods, method)
    )


def gets_ordinary_events(*, call_methods: list[str], event_types: list[str]) -> bool:
    """Whether a webhook gets ordinary (non-call) events at all, before its
    event type filter: a call hook with no event types does not."""
    return not call_methods or bool(event_types)
