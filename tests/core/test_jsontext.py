"""core.jsontext: numbers keep their text, keys their order."""

import json

import pytest

from core import jsontext
from core.jsontext import JSONFloat


@pytest.mark.parametrize(
    "text",
    [
        '{"b":1,"a":2}',
        '{"n":6.02e23}',
        '{"n":1.0}',
        '{"n":1e-7}',
        '{"n":1E5}',
        '{"n":1.10}',
        '{"n":-0.0}',
        '{"n":12345678901234567890}',
        '{"s":"é✓😀","t":"\\"\\\\\\n"}',
        '[1,[2.50,{"x":null,"y":true,"z":false}]]',
    ],
)
def test_compact_text_comes_back_as_it_was(text):
    assert jsontext.dumps(jsontext.loads(text)) == text


def test_what_changes_is_whitespace_and_string_escapes_only():
    assert jsontext.dumps(jsontext.loads('{ "a" : "\\u00e9" ,\n "b": [1.50] }')) == (
        '{"a":"é","b":[1.50]}'
    )


def test_a_parsed_float_is_a_float_everywhere_else():
    value = jsontext.loads("6.02e23")
    assert isinstance(value, JSONFloat) and value == 6.02e23
    assert json.dumps(value) == "6.02e+23"  # what jsonb is given: the same number


def test_python_values_are_written_as_json_dumps_would_compactly():
    data = {"f": 6.02e23, "i": 2**70, 1: None, "l": (1, 2)}
    assert jsontext.dumps(data) == json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {"x": object()}])
def test_what_json_cannot_hold_is_refused(value):
    with pytest.raises((ValueError, TypeError)):
        jsontext.dumps(value)
