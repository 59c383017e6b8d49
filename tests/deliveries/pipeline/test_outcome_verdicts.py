"""What a response means (deliveries/pipeline/outcome.py): every verdict, the
Retry-After header in both its forms, and what `decide` makes of each.

Pure functions: no database, no clock (the time is given), no Celery.
"""

from __future__ import annotations

import datetime as dt

import pytest

from deliveries.http import ErrorClass, SendResult
from deliveries.models import Delivery, DeliveryStatus
from deliveries.pipeline.outcome import Verdict, decide, retry_after_seconds, verdict_of
from hooks.models import Webhook

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def delivery(attempts: int = 1, max_attempts: int | None = None) -> Delivery:
    """An unsaved delivery after `attempts` attempts (decide reads no database)."""
    return Delivery(webhook=Webhook(max_attempts=max_attempts), attempts=attempts)


@pytest.fixture(autouse=True)
def schedule(settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 300]
    settings.WEBHOOK_RETRY_JITTER = 0
    settings.WEBHOOK_MAX_ATTEMPTS = 8
    settings.WEBHOOK_RETRY_AFTER_MAX = 3600


# --- verdict_of ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "verdict"),
    [
        (SendResult(status_code=200), Verdict.DELIVERED),
        (SendResult(status_code=204), Verdict.DELIVERED),
        # A body cut at our cap is still the receiver's 2xx.
        (SendResult(status_code=200, error_class=ErrorClass.BODY_TRUNCATED), Verdict.DELIVERED),
        (SendResult(status_code=500), Verdict.RETRY),
        (SendResult(status_code=404), Verdict.RETRY),
        (SendResult(status_code=301), Verdict.RETRY),  # redirects are not followed
        (SendResult(error_class=ErrorClass.TIMEOUT), Verdict.RETRY),
        (SendResult(error_class=ErrorClass.CONNECTION), Verdict.RETRY),
        (SendResult(error_class=ErrorClass.DNS), Verdict.RETRY),
        (SendResult(error_class=ErrorClass.WORKER_LOST), Verdict.RETRY),
        (SendResult(status_code=429), Verdict.THROTTLED),
        (SendResult(status_code=503), Verdict.THROTTLED),
        (SendResult(status_code=410), Verdict.GONE),
        (SendResult(error_class=ErrorClass.DESTINATION_REFUSED), Verdict.REFUSED),
        (SendResult(error_class=ErrorClass.BAD_URL), Verdict.REFUSED),
    ],
    ids=lambda v: v.value if isinstance(v, Verdict) else None,
)
def test_every_result_has_one_verdict(result, verdict):
    assert verdict_of(result, now=NOW)[0] == verdict


def test_retry_after_is_read_only_from_429_and_503():
    # Given the same header on three answers
    headers = {"retry-after": "20"}

    # Then only the throttling ones carry it
    assert verdict_of(SendResult(status_code=429, headers=headers), now=NOW) == (
        Verdict.THROTTLED,
        20.0,
    )
    assert verdict_of(SendResult(status_code=503, headers=headers), now=NOW)[1] == 20.0
    assert verdict_of(SendResult(status_code=500, headers=headers), now=NOW) == (
        Verdict.RETRY,
        None,
    )


# --- retry_after_seconds ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("20", 20.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("Wed, 01 May 2024 12:01:30 GMT", 90.0),  # an HTTP date, 90 s from NOW
        ("Wed, 01 May 2024 11:59:00 GMT", 0.0),  # a date in the past: now
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),  # delay-seconds is an integer
    ],
)
def test_retry_after_as_seconds_or_as_an_http_date(value, seconds):
    assert retry_after_seconds(value, now=NOW) == seconds


# --- decide -------------------------------------------------------------------------------


def test_a_2xx_is_done():
    outcome = decide(delivery(), SendResult(status_code=200), now=NOW)

    assert (outcome.status, outcome.next_attempt_at, outcome.finished_at) == (
        DeliveryStatus.SUCCEEDED,
        None,
        NOW,
    )
    assert outcome.verdict == Verdict.DELIVERED and outcome.last_error == ""


def test_a_500_is_retried_on_the_schedule():
    outcome = decide(delivery(attempts=1), SendResult(status_code=500), now=NOW)

    assert outcome.status == DeliveryStatus.PENDING
    assert outcome.next_attempt_at == NOW + dt.timedelta(seconds=5)
    assert (outcome.retry_in, outcome.last_status_code, outcome.last_error) == (5, 500, "HTTP 500")


@pytest.mark.parametrize("error", [ErrorClass.DESTINATION_REFUSED, ErrorClass.BAD_URL])
def test_a_refused_destination_or_bad_url_fails_at_the_first_attempt(error):
    # Given a first attempt that could not even be sent
    result = SendResult(error_class=error, error_message="destination not allowed: loopback")

    # When its outcome is decided, with seven attempts left
    outcome = decide(delivery(attempts=1), result, now=NOW)

    # Then it fails now, with the reason, instead of retrying for a day
    assert (outcome.status, outcome.next_attempt_at, outcome.finished_at) == (
        DeliveryStatus.FAILED,
        None,
        NOW,
    )
    assert outcome.verdict == Verdict.REFUSED
    assert outcome.last_error == f"{error}: destination not allowed: loopback"
    assert outcome.retry_in is None


def test_a_410_holds_the_delivery_pending_without_a_retry_message():
    outcome = decide(delivery(attempts=1), SendResult(status_code=410), now=NOW)

    # Pending and due (held by its disabled webhook, health.py), never failed,
    # and no near retry for record.py to queue.
    assert outcome.verdict == Verdict.GONE
    assert (outcome.status, outcome.next_attempt_at, outcome.finished_at) == (
        DeliveryStatus.PENDING,
        NOW,
        None,
    )
    assert outcome.retry_in is None and outcome.last_status_code == 410


def test_a_410_holds_even_at_the_last_attempt():
    outcome = decide(delivery(attempts=8), SendResult(status_code=410), now=NOW)

    assert outcome.status == DeliveryStatus.PENDING


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_seconds_is_honoured_over_a_shorter_schedule(code):
    # Given an answer asking for 20 s where the schedule says 5 s
    result = SendResult(status_code=code, headers={"retry-after": "20"})

    outcome = decide(delivery(attempts=1), result, now=NOW)

    # Then the next attempt is no sooner than asked
    assert outcome.verdict == Verdict.THROTTLED
    assert outcome.next_attempt_at == NOW + dt.timedelta(seconds=20)
    assert (outcome.retry_in, outcome.retry_after) == (20, 20.0)


def test_retry_after_as_an_http_date_is_honoured():
    result = SendResult(status_code=429, headers={"retry-after": "Wed, 01 May 2024 12:02:00 GMT"})

    outcome = decide(delivery(attempts=1), result, now=NOW)

    assert outcome.next_attempt_at == NOW + dt.timedelta(seconds=120)


def test_retry_after_never_shortens_the_schedule():
    # Given a second attempt (schedule: 300 s) answered "retry after 20 s"
    result = SendResult(status_code=503, headers={"retry-after": "20"})

    outcome = decide(delivery(attempts=2), result, now=NOW)

    assert outcome.next_attempt_at == NOW + dt.timedelta(seconds=300)


def test_retry_after_is_capped_by_the_setting(settings):
    settings.WEBHOOK_RETRY_AFTER_MAX = 60
    result = SendResult(status_code=429, headers={"retry-after": "86400"})

    outcome = decide(delivery(attempts=1), result, now=NOW)

    # Waits the cap, not a day; the receiver's ask is kept for health.py
    assert outcome.next_attempt_at == NOW + dt.timedelta(seconds=60)
    assert outcome.retry_after == 86400.0


def test_a_429_without_retry_after_follows_the_schedule():
    outcome = decide(delivery(attempts=1), SendResult(status_code=429), now=NOW)

    assert outcome.verdict == Verdict.THROTTLED
    assert outcome.next_attempt_at == NOW + dt.timedelta(seconds=5)
    assert outcome.retry_after is None


def test_a_throttled_last_attempt_fails():
    result = SendResult(status_code=429, headers={"retry-after": "20"})

    outcome = decide(delivery(attempts=3, max_attempts=3), result, now=NOW)

    assert (outcome.status, outcome.finished_at, outcome.verdict) == (
        DeliveryStatus.FAILED,
        NOW,
        Verdict.THROTTLED,
    )
