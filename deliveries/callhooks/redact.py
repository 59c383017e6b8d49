"""What a call event may carry of a call's params and result: JSON values,
with secrets, passwords and token keys taken out, and no bigger than
WEBHOOK_CALL_HOOK_MAX_BYTES.

Redaction goes by name, at any depth: a value under a key that names a secret
(`secret`, `auth_password`, `password`, `key`, `api_key`, `X-Auth-Token`,
`Authorization`, ...) becomes "[redacted]", whatever the method. So a new
write operation with a `secret` field is covered without a list to keep up to
date; the price is that a harmless value under such a name is hidden too.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import uuid
from typing import Any

from django.conf import settings
from django.db import models

from core import jsontext

REDACTED = "[redacted]"
MAX_DEPTH = 32

# Substrings of a key that name a secret, or a key that is (or ends in) "key".
SENSITIVE_KEY_RE = re.compile(
    r"secret|passw|token|api[-_]?key|credential|authorization|cookie|signature|private"
    r"|(?:\A|[-_.])key\Z",
    re.IGNORECASE,
)


def is_sensitive(key: object) -> bool:
    return isinstance(key, str) and SENSITIVE_KEY_RE.search(key) is not None


def to_json(value: Any, *, depth: int = 0) -> Any:
    """A JSON value (dicts, lists, strings, numbers, booleans, null) from what
    a producer passed or returned: ids and times as strings, a model instance
    as its primary key, anything else as its str(). Secrets redacted."""
    if depth > MAX_DEPTH:
        return "[nested too deeply]"
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        # PostgreSQL's jsonb refuses NUL: the event would not be stored.
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {
            str(k): (_redacted(v) if is_sensitive(str(k)) else to_json(v, depth=depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(item, depth=depth + 1) for item in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return str(value.pk)
    return to_json(str(value), depth=depth + 1)


def _redacted(value: Any) -> Any:
    # null, a boolean and "" say nothing secret (has_secret: true, no password set).
    if value is None or isinstance(value, bool) or value == "":
        return value
    return REDACTED


def capped(value: Any) -> Any:
    """`value` (a JSON value), or a note saying how large it was if its JSON
    is over WEBHOOK_CALL_HOOK_MAX_BYTES: a call event stays small whatever
    a call took or returned."""
    size = len(jsontext.dumps(value).encode())
    limit = settings.WEBHOOK_CALL_HOOK_MAX_BYTES
    if size <= limit:
        return value
    return f"[omitted: {size} bytes of JSON, over WEBHOOK_CALL_HOOK_MAX_BYTES ({limit})]"


def call_value(value: Any) -> Any:
    """What a call event carries of a call's params or result."""
    return capped(to_json(value))
