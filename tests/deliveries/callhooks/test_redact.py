"""What a call event may carry of params and results (deliveries/callhooks/redact.py):
JSON, without secrets, passwords or token keys, and capped in size."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest

from core import jsontext
from deliveries.callhooks.redact import REDACTED, call_value, to_json

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("webhook secret", {"name": "x", "secret": SECRET}),
        ("listener password", {"auth_username": "u", "auth_password": "hunter2hunter2"}),
        ("user password", {"username": "ann", "password": "correct horse"}),
        ("token key", {"id": "1a2b3c4d", "key": "1a2b3c4d" + "f" * 56}),
        ("api key header", {"headers": {"X-Api-Key": "k-123", "X-Team": "orders"}}),
        ("auth token header", {"headers": {"X-Auth-Token": "t-123"}}),
        ("authorization", {"Authorization": "Bearer abc"}),
        ("nested in event data", {"data": {"db": {"password": "pw", "host": "db1"}}}),
        ("in a list", {"events": [{"data": {"client_secret": "s3"}}]}),
        ("a number", {"pin_password": 1234}),
        ("a whole object", {"credentials": {"user": "u", "pass": "p"}}),
        ("signature header", {"request_headers": {"webhook-signature": "v1,abc"}}),
    ],
)
def test_secrets_never_appear(kind, value):
    text = jsontext.dumps(call_value(value))
    for leaked in (SECRET, "hunter2", "correct horse", "f" * 56, "k-123", "t-123", "Bearer"):
        assert leaked not in text, kind
    assert '"pw"' not in text and "s3" not in text and "1234" not in text, kind
    assert REDACTED in text, kind


def test_what_is_not_secret_stays():
    value = {
        "name": "orders",
        "auth_username": "u",
        "has_secret": True,
        "secret": "",
        "auth_password": None,
        "headers": {"X-Team": "orders"},
        "monkey": "banana",
        "id": "1a2b3c4d",
    }
    assert call_value(value) == value


def test_values_become_json():
    when = dt.datetime(2026, 12, 1, 19, 0, tzinfo=dt.UTC)
    some = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")
    value = {
        "when": when,
        "day": when.date(),
        "id": some,
        "price": decimal.Decimal("1.10"),
        "tags": ("a", "b"),
        "nan": float("nan"),
        "nul": "a\x00b",
        1: "int key",
        "obj": object,
    }
    assert to_json(value) == {
        "when": "2026-12-01T19:00:00+00:00",
        "day": "2026-12-01",
        "id": str(some),
        "price": "1.10",
        "tags": ["a", "b"],
        "nan": "nan",
        "nul": "a\ufffdb",
        "1": "int key",
        "obj": "<class 'object'>",
    }


def test_a_model_instance_is_its_primary_key(db, tenants):
    assert to_json({"account": tenants["east_acct"]}) == {"account": str(tenants["east_acct"].pk)}


def test_deep_nesting_is_cut():
    value: dict = {}
    inner = value
    for _ in range(50):
        inner["a"] = {}
        inner = inner["a"]
    assert "[nested too deeply]" in jsontext.dumps(to_json(value))


def test_large_values_are_replaced_by_a_note(settings):
    settings.WEBHOOK_CALL_HOOK_MAX_BYTES = 1000
    assert call_value({"a": "x" * 900}) == {"a": "x" * 900}
    note = call_value({"a": "x" * 2000})
    assert isinstance(note, str) and "2008 bytes" in note and "(1000)" in note
