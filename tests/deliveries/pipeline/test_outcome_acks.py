"""Acknowledgement in the body (deliveries/pipeline/outcome.py): every reason a
2xx is not the acknowledgement a webhook asks for, and what `decide` makes of
it (a failed attempt, retried like a 5xx).

Pure functions: no database, no clock, no Celery.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from deliveries.http import ErrorClass, SendResult
from deliveries.models import Delivery, DeliveryStatus
from deliveries.pipeline.outcome import (
    Verdict,
    acknowledged,
    acknowledgement_missing,
    decide,
    verdict_of,
)
from hooks.acks import AckRule, json_equal, path_lookup
from hooks.models import Webhook

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
SESSION = "01890a5d-ac96-774b-bcce-b302099a8057"
TENCENT = AckRule(field="retCode", value=0, session_field="sessionId")


def answer(body: object, *, status: int = 200, truncated: bool = False) -> SendResult:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return SendResult(status_code=status, body=raw, body_truncated=truncated)


def missing(rule: AckRule, result: SendResult) -> str | None:
    return acknowledgement_missing(rule, result, session_id=SESSION)


@pytest.fixture(autouse=True)
def schedule(settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 300]
    settings.WEBHOOK_RETRY_JITTER = 0
    settings.WEBHOOK_MAX_ATTEMPTS = 8


# --- every reason -------------------------------------------------------------------------


def test_the_tencent_acknowledgement_is_one():
    assert missing(TENCENT, answer({"sessionId": SESSION, "retCode": 0})) is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "no acknowledgement: the body is empty"),
        (b"  \r\n", "no acknowledgement: the body is empty"),
        (b"OK", "no acknowledgement: the body is not JSON"),
        (b"\xff\xfe{}", "no acknowledgement: the body is not JSON"),
        ([{"retCode": 0}], "no acknowledgement: the body is not a JSON object"),
        ("retCode", "no acknowledgement: the body is not a JSON object"),
        ({"sessionId": SESSION}, "no acknowledgement: retCode is missing"),
        ({"sessionId": SESSION, "retCode": 1}, "no acknowledgement: retCode was 1, not 0"),
        ({"sessionId": SESSION, "retCode": "0"}, 'no acknowledgement: retCode was "0", not 0'),
        # JSON's false is not the number 0 (Python's == would say it is).
        ({"sessionId": SESSION, "retCode": False}, "no acknowledgement: retCode was false, not 0"),
        ({"sessionId": SESSION, "retCode": None}, "no acknowledgement: retCode was null, not 0"),
        ({"retCode": 0}, "no acknowledgement: sessionId is missing"),
        (
            {"retCode": 0, "sessionId": "xxxxxxxx"},
            f'no acknowledgement: sessionId was "xxxxxxxx", not the session id "{SESSION}"',
        ),
        (
            {"retCode": 0, "sessionId": 42},
            f'no acknowledgement: sessionId was 42, not the session id "{SESSION}"',
        ),
    ],
)
def test_every_reason_a_2xx_is_not_an_acknowledgement(body, reason):
    assert missing(TENCENT, answer(body)) == reason


def test_a_body_cut_at_our_cap_says_so():
    result = answer(b'{"retCode": 0, "pad": "' + b"x" * 100, truncated=True)
    assert missing(TENCENT, result) == "no acknowledgement: the body is not JSON (cut at 123 bytes)"


def test_a_hostile_nesting_is_a_reason_not_a_crash():
    reason = missing(TENCENT, answer(b"[" * 60000, truncated=True))
    assert reason == "no acknowledgement: the body is JSON nested too deep to read"


def test_a_value_nested_near_the_limit_is_a_reason_too():
    import sys

    depth = sys.getrecursionlimit() - 60
    body = b'{"retCode": ' + b"[" * depth + b"]" * depth + b"}"
    reason = missing(AckRule(field="retCode", value=0), answer(body))
    assert reason is not None and reason.startswith("no acknowledgement: retCode was ")


def test_a_long_value_is_shown_shortened():
    reason = missing(AckRule(field="retCode", value=0), answer({"retCode": "x" * 500}))
    assert reason is not None and reason.startswith('no acknowledgement: retCode was "xxx')
    assert reason.endswith("..., not 0") and len(reason) < 140


@pytest.mark.parametrize(
    ("rule", "body"),
    [
        (AckRule(field="result.code", value="ok"), {"result": {"code": "ok"}}),
        (AckRule(field="items.1.state", value=True), {"items": [{}, {"state": True}]}),
        (AckRule(field="ack", value={"a": [1, 2]}), {"ack": {"a": [1, 2]}, "other": 1}),
        (AckRule(field="n", value=1), {"n": 1.0}),  # JSON has one kind of number
        (AckRule(session_field="echo.session"), {"echo": {"session": SESSION}}),
    ],
)
def test_dotted_paths_and_json_values(rule, body):
    assert missing(rule, answer(body)) is None


@pytest.mark.parametrize(
    ("rule", "body", "reason"),
    [
        (AckRule(field="result.code", value="ok"), {"result": "ok"}, "result.code is missing"),
        (AckRule(field="items.5", value=1), {"items": [1]}, "items.5 is missing"),
        (AckRule(field="n", value=True), {"n": 1}, "n was 1, not true"),
        (
            AckRule(field="ack", value={"a": 1}),
            {"ack": {"a": 1, "b": 2}},
            'ack was {"a": 1, "b": 2}',
        ),
    ],
)
def test_dotted_paths_that_miss(rule, body, reason):
    assert (missing(rule, answer(body)) or "").startswith(f"no acknowledgement: {reason}")


def test_path_lookup_and_json_equal():
    assert path_lookup({"a": [{"b": 0}]}, "a.0.b") == (True, 0)
    assert path_lookup({"a": [{"b": 0}]}, "a.x") == (False, None)
    assert json_equal(0, 0.0) and not json_equal(0, False) and not json_equal([1], [True])


# --- acknowledged, verdict_of, decide -----------------------------------------------------


def test_no_rule_or_no_2xx_is_left_as_it_is():
    result = answer(b"not json")
    assert acknowledged(result, None, session_id=SESSION) is result
    failed = answer(b"not json", status=500)
    assert acknowledged(failed, TENCENT, session_id=SESSION) is failed


def test_a_2xx_without_the_acknowledgement_is_retried_like_a_5xx():
    judged = acknowledged(answer({"retCode": 1}), AckRule("retCode", 0), session_id=SESSION)
    assert judged.error_class == ErrorClass.NO_ACKNOWLEDGEMENT
    assert judged.error_message == "no acknowledgement: retCode was 1, not 0"
    assert not judged.ok
    assert verdict_of(judged, now=NOW) == (Verdict.RETRY, None)
    # Judging again changes nothing.
    assert acknowledged(judged, AckRule("retCode", 0), session_id=SESSION) == judged


def webhook_delivery(rule: AckRule | None, *, attempts: int = 1) -> Delivery:
    webhook = Webhook(max_attempts=3)
    if rule is not None:
        webhook.ack_field, webhook.ack_value = rule.field, rule.value
        webhook.ack_session_field = rule.session_field
    return Delivery(id=uuid.UUID(SESSION), webhook=webhook, attempts=attempts)


def test_decide_retries_a_missing_acknowledgement_with_its_reason():
    outcome = decide(
        webhook_delivery(TENCENT), answer({"retCode": 1, "sessionId": SESSION}), now=NOW
    )
    assert outcome.status == DeliveryStatus.PENDING
    assert outcome.verdict == Verdict.RETRY
    assert outcome.next_attempt_at == NOW + dt.timedelta(seconds=5)
    assert outcome.last_status_code == 200
    assert outcome.last_error == "no acknowledgement: retCode was 1, not 0"


def test_decide_delivers_the_acknowledgement_that_echoes_the_delivery_id():
    body = {"retCode": 0, "sessionId": SESSION}
    outcome = decide(webhook_delivery(TENCENT), answer(body), now=NOW)
    assert (outcome.status, outcome.verdict) == (DeliveryStatus.SUCCEEDED, Verdict.DELIVERED)


def test_decide_gives_up_after_the_last_attempt_without_acknowledgement():
    outcome = decide(webhook_delivery(TENCENT, attempts=3), answer(b"OK"), now=NOW)
    assert outcome.status == DeliveryStatus.FAILED
    assert outcome.last_error == "no acknowledgement: the body is not JSON"


def test_without_a_rule_any_2xx_is_delivered():
    outcome = decide(webhook_delivery(None), answer(b"whatever"), now=NOW)
    assert outcome.status == DeliveryStatus.SUCCEEDED
