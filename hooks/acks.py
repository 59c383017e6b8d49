"""Acknowledgement rules: what a receiver must answer in its body for an
attempt to count as delivered (Tencent Cloud's alarm callback wants
`{"sessionId": "...", "retCode": 0}`), and how a rule is checked for sense
when a webhook is written. What a response means is decided in
deliveries/pipeline/outcome.py; this module only describes the rule.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

# The header that carries the session id (str(delivery.id)) on every attempt
# of a webhook whose rule asks for it to be echoed.
SESSION_HEADER = "X-Webhook-Session-Id"

# A dotted path into a JSON object: `retCode`, `result.code`, `items.0.id`.
# Names may hold anything but dots and whitespace; a segment of digits also
# indexes into a list.
ACK_PATH_RE = re.compile(r"\A[^.\s]+(?:\.[^.\s]+){0,9}\Z")
ACK_PATH_MAX = 200
ACK_VALUE_MAX = 1024  # bytes of the expected value as JSON


@dataclass(frozen=True, slots=True)
class AckRule:
    """A receiver's answer is an acknowledgement when it is a JSON object in
    which `field` (if set) equals `value`, and `session_field` (if set)
    equals the session id we sent."""

    field: str = ""
    value: Any = None
    session_field: str = ""


def validate_ack_path(value: object) -> None:
    if not isinstance(value, str) or not value:
        return
    if len(value) > ACK_PATH_MAX or not ACK_PATH_RE.match(value):
        raise ValidationError(
            f"{value!r} is not a field path: names separated by dots (retCode, result.code), "
            f"no spaces, at most 10 levels and {ACK_PATH_MAX} characters."
        )


def ack_rule_errors(*, field: str, value: Any, session_field: str) -> dict[str, str]:
    """What is wrong with a rule as a whole, by field name (empty: nothing)."""
    errors: dict[str, str] = {}
    if field and value is None:
        errors["ack_value"] = (
            f'Give the value {field!r} must have to acknowledge (JSON, e.g. 0 or "ok").'
        )
    if not field and value is not None:
        errors["ack_value"] = "Set ack_field too: the field that must have this value."
    if value is not None and len(json.dumps(value)) > ACK_VALUE_MAX:
        errors["ack_value"] = f"At most {ACK_VALUE_MAX} bytes of JSON."
    return errors


def path_lookup(document: Any, path: str) -> tuple[bool, Any]:
    """(found, value) of a dotted path in a parsed JSON document."""
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: Python's ==, except that true and false are
    not the numbers 1 and 0 (a `retCode` of false is not 0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b
