"""What happens after an attempt: done, tried again when, held, or given up.

The one place that says what a response means (`acknowledged`, `verdict_of`,
`decide`) and when to try again (`retry_delay`, the retry policy): pure
functions of the result (its body included), the attempt count and the time
given, tested without Celery or a clock. What a verdict does to the endpoint
is in health.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import json
import random
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings

from deliveries.http import ErrorClass, SendResult
from deliveries.models import Delivery, DeliveryStatus
from hooks.acks import AckRule, json_equal, path_lookup

NO_ACK = "no acknowledgement"


class Verdict(StrEnum):
    """What a send result says about the delivery and its endpoint."""

    DELIVERED = "delivered"
    RETRY = "retry"  # a failure worth trying again, on the retry schedule
    # 429, or 503: try again no sooner than Retry-After, and send to this
    # endpoint more slowly for a while.
    THROTTLED = "throttled"
    GONE = "gone"  # 410: the receiver says it is gone for good: disable, hold
    REFUSED = "refused"  # a destination we will never send to: fail at once


@dataclass
class Outcome:
    status: str
    next_attempt_at: dt.datetime | None
    finished_at: dt.datetime | None
    last_status_code: int | None
    last_error: str
    retry_in: float | None  # seconds, when retried
    verdict: Verdict = Verdict.DELIVERED
    retry_after: float | None = None  # seconds the receiver asked for (429/503)


def retry_after_seconds(value: str | None, *, now: dt.datetime) -> float | None:
    """A Retry-After header's wait in seconds (delay-seconds or an HTTP date),
    or None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def acknowledgement_missing(rule: AckRule, result: SendResult, *, session_id: str) -> str | None:
    """Why a 2xx answer is not the acknowledgement `rule` asks for (a reason
    for people, "no acknowledgement: retCode was 1"), or None when it is."""
    body = result.body
    if not body.strip():
        return f"{NO_ACK}: the body is empty"
    try:
        document = json.loads(body)
    except RecursionError:  # a hostile receiver's [[[[…: never a batch's crash
        return f"{NO_ACK}: the body is JSON nested too deep to read"
    except ValueError:  # not UTF-8 either: UnicodeDecodeError is a ValueError
        cut = f" (cut at {len(body)} bytes)" if result.body_truncated else ""
        return f"{NO_ACK}: the body is not JSON{cut}"
    if not isinstance(document, dict):
        return f"{NO_ACK}: the body is not a JSON object"
    if rule.field:
        found, value = path_lookup(document, rule.field)
        if not found:
            return f"{NO_ACK}: {rule.field} is missing"
        if not json_equal(value, rule.value):
            return f"{NO_ACK}: {rule.field} was {_shown(value)}, not {_shown(rule.value)}"
    if rule.session_field:
        found, value = path_lookup(document, rule.session_field)
        if not found:
            return f"{NO_ACK}: {rule.session_field} is missing"
        if value != session_id:
            return (
                f"{NO_ACK}: {rule.session_field} was {_shown(value)}, "
                f"not the session id {_shown(session_id)}"
            )
    return None


def _shown(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except RecursionError:
        return "a value nested too deep to show"
    return text if len(text) <= 80 else text[:77] + "..."


def acknowledged(result: SendResult, rule: AckRule | None, *, session_id: str) -> SendResult:
    """The result as its webhook's acknowledgement rule judges it: a 2xx that
    lacks the acknowledgement becomes a failure (NoAcknowledgement, with the
    reason), retried like a 5xx. Anything else is returned as it is, so
    judging twice changes nothing."""
    if rule is None or not result.ok:
        return result
    reason = acknowledgement_missing(rule, result, session_id=session_id)
    if reason is None:
        return result
    return dataclasses.replace(
        result, error_class=ErrorClass.NO_ACKNOWLEDGEMENT, error_message=reason
    )


def judged(delivery: Delivery, result: SendResult) -> SendResult:
    """`acknowledged` for one delivery: its webhook's rule, its session id."""
    rule = delivery.webhook.ack_rule
    if rule is None:  # most webhooks: no session id to format, twice per attempt
        return result
    return acknowledged(result, rule, session_id=str(delivery.id))


def verdict_of(result: SendResult, *, now: dt.datetime) -> tuple[Verdict, float | None]:
    """The meaning of one result, and the Retry-After it carried (seconds)."""
    if result.ok:
        return Verdict.DELIVERED, None
    if result.error_class == ErrorClass.NO_ACKNOWLEDGEMENT:
        return Verdict.RETRY, None
    if result.error_class in (ErrorClass.DESTINATION_REFUSED, ErrorClass.BAD_URL):
        return Verdict.REFUSED, None
    if result.status_code == 410:
        return Verdict.GONE, None
    if result.status_code in (429, 503):
        return Verdict.THROTTLED, retry_after_seconds(result.headers.get("retry-after"), now=now)
    return Verdict.RETRY, None


def decide(delivery: Delivery, result: SendResult, *, now: dt.datetime) -> Outcome:
    """What happens to a delivery after an attempt: done, retried later (no
    sooner than the receiver asked), held (its endpoint is gone), or failed.
    A 2xx is judged by the webhook's acknowledgement rule first."""
    result = judged(delivery, result)
    verdict, retry_after = verdict_of(result, now=now)
    code = result.status_code
    if verdict == Verdict.DELIVERED:
        return Outcome(DeliveryStatus.SUCCEEDED, None, now, code, "", None, verdict)
    error = result.summary
    if verdict == Verdict.REFUSED:
        return Outcome(DeliveryStatus.FAILED, None, now, code, error, None, verdict)
    if verdict == Verdict.GONE:
        # Held, not failed: the webhook is disabled (health.py), and its
        # pending deliveries wait for an operator to enable it again.
        return Outcome(DeliveryStatus.PENDING, now, None, code, error, None, verdict)
    policy = RetryPolicy.from_settings(max_attempts=delivery.webhook.effective_max_attempts)
    delay = retry_delay(policy, attempts_made=delivery.attempts, rand=random.random())
    if delay is None:
        return Outcome(DeliveryStatus.FAILED, None, now, code, error, None, verdict, retry_after)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.WEBHOOK_RETRY_AFTER_MAX))
    next_at = now + dt.timedelta(seconds=delay)
    return Outcome(DeliveryStatus.PENDING, next_at, None, code, error, delay, verdict, retry_after)


@dataclass(frozen=True)
class RetryPolicy:
    # Waits after attempt 1, 2, ... in seconds; past its end the last wait doubles.
    schedule: tuple[float, ...]
    max_attempts: int
    # Each wait is spread by up to this fraction either way, so receivers that
    # failed together are not retried together.
    jitter: float = 0.1
    max_delay: float = 86400.0

    @classmethod
    def from_settings(cls, *, max_attempts: int | None = None) -> RetryPolicy:
        return cls(
            schedule=tuple(settings.WEBHOOK_RETRY_SCHEDULE),
            max_attempts=max_attempts or settings.WEBHOOK_MAX_ATTEMPTS,
            jitter=settings.WEBHOOK_RETRY_JITTER,
            max_delay=settings.WEBHOOK_RETRY_MAX_DELAY,
        )


def retry_delay(policy: RetryPolicy, *, attempts_made: int, rand: float) -> float | None:
    """Seconds to wait before the next attempt, or None to give up.

    `attempts_made` counts the attempt that just failed; `rand` is a number in
    [0, 1) that sets the jitter (random.random() in production, fixed in tests).
    """
    if attempts_made >= policy.max_attempts:
        return None
    if not policy.schedule:
        base = 0.0
    elif attempts_made <= len(policy.schedule):
        base = policy.schedule[attempts_made - 1]
    else:
        base = policy.schedule[-1] * 2 ** (attempts_made - len(policy.schedule))
    base = min(base, policy.max_delay)
    return min(base * (1 + policy.jitter * (2 * rand - 1)), policy.max_delay)
