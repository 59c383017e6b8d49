"""Event type patterns and custom headers: what a webhook may ask for, checked."""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache

from django.core.exceptions import ValidationError

# \A...\Z, not ^...$: "$" also matches before a trailing newline.
EVENT_TYPE_RE = re.compile(r"\A[A-Za-z0-9._-]{1,128}\Z")
EVENT_PATTERN_RE = re.compile(r"\A[A-Za-z0-9._*-]{1,128}\Z")


def validate_event_patterns(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValidationError("Must be a list of event type patterns (strings).")
    for pattern in value:
        if not EVENT_PATTERN_RE.match(pattern):
            raise ValidationError(
                f"{pattern!r} is not a valid pattern: use letters, digits, '.', '_', '-' and '*'."
            )


HEADER_NAME_RE = re.compile(r"\A[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}\Z")
# Headers the platform sets itself: a webhook may not replace them.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "expect",
        "te",
        "upgrade",
        "authorization",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-cs-event-id",
        "x-cs-event",
        "x-cs-signature",
        "x-webhook-session-id",  # hooks/acks.py SESSION_HEADER
    }
)
MAX_CUSTOM_HEADERS = 20


def validate_custom_headers(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Must be an object of header names to values.")
    if len(value) > MAX_CUSTOM_HEADERS:
        raise ValidationError(f"At most {MAX_CUSTOM_HEADERS} custom headers.")
    for name, header_value in value.items():
        if not HEADER_NAME_RE.match(name):
            raise ValidationError(f"{name!r} is not a valid header name.")
        if name.lower() in RESERVED_HEADERS:
            raise ValidationError(f"{name!r} is set by the platform and cannot be overridden.")
        if not isinstance(header_value, str) or len(header_value) > 1024:
            raise ValidationError(
                f"The value of {name!r} must be a string of at most 1024 characters."
            )
        if any(ch in header_value for ch in "\r\n\x00"):
            raise ValidationError(f"The value of {name!r} must not contain CR, LF or NUL.")


@lru_cache(maxsize=4096)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


def patterns_match(patterns: list[str], event_type: str) -> bool:
    """An event type filter: exact names or '*' patterns; empty lets all through."""
    if not patterns:
        return True
    return any(_pattern_regex(p).match(event_type) for p in patterns)
