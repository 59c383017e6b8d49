"""JSON that keeps the producer's numbers: an event's `data` is delivered as
it was published, not as a database or a float rewrote it.

PostgreSQL's jsonb reorders object keys and rewrites `6.02e23` as
`602000000000000000000000`; Python's json reads `6.02e23` as a float and
writes it back as `6.02e+23`, `1E5` as `100000.0`. Neither is what the
producer sent. So:

- `loads` parses as json.loads does, except that each number with a fraction
  or an exponent becomes a `JSONFloat`: a float (it compares, sorts and is
  stored in jsonb as one) that remembers the exact text it was written as.
  Integers are Python ints already, exact at any size.
- `dumps` writes compact JSON (no spaces, UTF-8 characters as they are) with
  keys in their given order, a `JSONFloat` as its original text and any
  other float as Python's shortest round-trip repr (lossless for a float).

So `dumps(loads(text))` keeps every number's text, key order (the last of a
duplicated key wins, as in every JSON parser), and every string's value; what
changes is insignificant whitespace and how a string is escaped (`"\\u00e9"`
comes back as `"é"`, the same string). A Python producer's dict goes through
the same `dumps`, once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

_encode_string = json.encoder.encode_basestring  # ensure_ascii=False's string form


class JSONFloat(float):
    """A float that remembers how it was written."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JSONFloat:
        value = super().__new__(cls, text)
        value.text = text
        return value

    def __copy__(self) -> JSONFloat:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> JSONFloat:
        return self


def loads(text: str, *, parse_constant: Callable[[str], Any] | None = None) -> Any:
    """json.loads, with fractions and exponents kept as JSONFloat."""
    if parse_constant is None:
        return json.loads(text, parse_float=JSONFloat)
    return json.loads(text, parse_float=JSONFloat, parse_constant=parse_constant)


def dumps(value: Any) -> str:
    """Compact JSON text of `value`, JSONFloat numbers as originally written."""
    parts: list[str] = []
    _write(value, parts.append)
    return "".join(parts)


def _write(value: Any, out: Callable[[str], None]) -> None:
    if isinstance(value, str):
        out(_encode_string(value))
    elif value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, JSONFloat):
        out(value.text)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not valid JSON")
        out(float.__repr__(value))
    elif isinstance(value, int):
        out(int.__repr__(value))
    elif isinstance(value, dict):
        out("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out(",")
            out(_encode_string(_key(key)))
            out(":")
            _write(item, out)
        out("}")
    elif isinstance(value, list | tuple):
        out("[")
        for index, item in enumerate(value):
            if index:
                out(",")
            _write(item, out)
        out("]")
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _key(key: Any) -> str:
    # The keys json.dumps accepts, written the way it writes them.
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
