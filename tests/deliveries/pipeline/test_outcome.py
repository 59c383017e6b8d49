"""The retry policy (a pure function) and what an attempt's outcome does to a delivery."""

import datetime as dt

import pytest
from django.conf import settings

from deliveries.http import SendResult
from deliveries.models import Delivery, DeliveryStatus
from deliveries.pipeline.outcome import RetryPolicy, decide, retry_delay
from tests.factories import WebhookFactory

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
MIDDLE = 0.5  # the rand that gives no jitter at all


def policy(**kwargs) -> RetryPolicy:
    defaults = {"schedule": (10.0, 20.0, 40.0), "max_attempts": 10, "jitter": 0.1}
    return RetryPolicy(**{**defaults, **kwargs})


# --- retry_delay ------------------------------------------------------------------


def test_the_schedule_is_followed_attempt_by_attempt():
    p = policy(schedule=(7.0, 11.0, 13.0), jitter=0.0)

    delays = [retry_delay(p, attempts_made=n, rand=MIDDLE) for n in (1, 2, 3)]

    assert delays == [7.0, 11.0, 13.0]


def test_gives_up_at_max_attempts():
    p = policy(max_attempts=3)

    assert retry_delay(p, attempts_made=2, rand=MIDDLE) == 20.0
    assert retry_delay(p, attempts_made=3, rand=MIDDLE) is None
    assert retry_delay(p, attempts_made=4, rand=MIDDLE) is None


def test_a_single_attempt_policy_never_retries():
    assert retry_delay(policy(max_attempts=1), attempts_made=1, rand=MIDDLE) is None


def test_the_last_wait_doubles_past_the_end_of_the_schedule():
    p = policy(schedule=(10.0, 20.0, 40.0), jitter=0.0)

    delays = [retry_delay(p, attempts_made=n, rand=MIDDLE) for n in (3, 4, 5, 6)]

    assert delays == [40.0, 80.0, 160.0, 320.0]


def test_delays_are_capped_by_max_delay():
    p = policy(schedule=(10.0, 20.0, 40.0), max_delay=100.0, max_attempts=20)

    assert retry_delay(p, attempts_made=4, rand=MIDDLE) == 80.0
    assert retry_delay(p, attempts_made=5, rand=MIDDLE) == 100.0
    assert retry_delay(p, attempts_made=15, rand=MIDDLE) == 100.0
    # jitter upwards cannot push past the cap either
    assert retry_delay(p, attempts_made=5, rand=0.999999) == 100.0


def test_a_schedule_entry_above_max_delay_is_capped():
    p = policy(schedule=(500.0,), max_delay=60.0, jitter=0.0)

    assert retry_delay(p, attempts_made=1, rand=MIDDLE) == 60.0


def test_jitter_bounds():
    p = policy(schedule=(100.0,), jitter=0.1)

    lowest = retry_delay(p, attempts_made=1, rand=0.0)
    middle = retry_delay(p, attempts_made=1, rand=0.5)
    almost_highest = retry_delay(p, attempts_made=1, rand=0.999999)

    assert lowest == pytest.approx(90.0)
    assert middle == 100.0
    assert almost_highest == pytest.approx(110.0, abs=1e-3)
    assert almost_highest < 110.0


def test_jitter_spreads_evenly_between_its_bounds():
    p = policy(schedule=(100.0,), jitter=0.2)

    delays = [retry_delay(p, attempts_made=1, rand=r / 10) for r in range(10)]

    assert delays == pytest.approx([80.0 + 4.0 * i for i in range(10)])


def test_an_empty_schedule_retries_at_once():
    assert retry_delay(policy(schedule=()), attempts_made=1, rand=0.9) == 0.0


def test_the_default_schedule_is_svix_like():
    # given the settings' defaults (tests set no WEBHOOK_RETRY_* variables)
    p = RetryPolicy.from_settings()

    # when
    delays = [retry_delay(p, attempts_made=n, rand=MIDDLE) for n in range(1, p.max_attempts + 1)]

    # then: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then give up
    assert p.max_attempts == settings.WEBHOOK_MAX_ATTEMPTS == 8
    assert delays == [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600, None]
    assert p.jitter == 0.1


def test_from_settings_takes_a_max_attempts_override():
    assert RetryPolicy.from_settings(max_attempts=3).max_attempts == 3
    assert RetryPolicy.from_settings(max_attempts=None).max_attempts == 8


# --- decide -------------------------------------------------------------------------


def delivery(*, attempts: int, max_attempts: int | None = 3) -> Delivery:
    webhook = WebhookFactory.build(max_attempts=max_attempts)
    return Delivery(webhook=webhook, attempts=attempts, status=DeliveryStatus.SENDING)


def test_a_2xx_succeeds():
    outcome = decide(delivery(attempts=1), SendResult(status_code=200), now=NOW)

    assert outcome.status == DeliveryStatus.SUCCEEDED
    assert outcome.finished_at == NOW
    assert outcome.next_attempt_at is None
    assert outcome.retry_in is None
    assert outcome.last_status_code == 200
    assert outcome.last_error == ""


def test_a_500_is_retried_later():
    # given the first attempt of three got a 500
    outcome = decide(delivery(attempts=1), SendResult(status_code=500), now=NOW)

    # then it goes back to pending, due after the first wait (5 s, give or take 10 %)
    assert outcome.status == DeliveryStatus.PENDING
    assert outcome.finished_at is None
    assert outcome.next_attempt_at > NOW
    assert 4.5 <= outcome.retry_in <= 5.5
    assert outcome.next_attempt_at == NOW + dt.timedelta(seconds=outcome.retry_in)
    assert outcome.last_status_code == 500
    assert outcome.last_error == "HTTP 500"


def test_a_second_failure_waits_for_the_second_step():
    outcome = decide(delivery(attempts=2), SendResult(status_code=503), now=NOW)

    assert outcome.status == DeliveryStatus.PENDING
    assert 270 <= outcome.retry_in <= 330


def test_an_error_at_the_last_attempt_fails_the_delivery():
    # given the webhook allows 3 attempts and this was the third
    response = SendResult(error_class="ConnectionError", error_message="refused (curl error 7)")

    outcome = decide(delivery(attempts=3, max_attempts=3), response, now=NOW)

    assert outcome.status == DeliveryStatus.FAILED
    assert outcome.finished_at == NOW
    assert outcome.next_attempt_at is None
    assert outcome.retry_in is None
    assert outcome.last_status_code is None
    assert outcome.last_error == "ConnectionError: refused (curl error 7)"


def test_the_webhook_override_decides_where_the_last_attempt_is():
    # given the same third failure, under the settings' 8 attempts instead of 3
    response = SendResult(status_code=500)

    with_override = decide(delivery(attempts=3, max_attempts=3), response, now=NOW)
    without = decide(delivery(attempts=3, max_attempts=None), response, now=NOW)

    assert with_override.status == DeliveryStatus.FAILED
    assert without.status == DeliveryStatus.PENDING


def test_a_2xx_with_a_truncated_body_is_a_success():
    response = SendResult(
        status_code=200,
        body=b"x" * 10,
        body_truncated=True,
        error_class="BodyTruncated",
        error_message="response body cut at 10 bytes",
    )

    outcome = decide(delivery(attempts=1), response, now=NOW)

    assert response.ok
    assert outcome.status == DeliveryStatus.SUCCEEDED
    assert outcome.last_error == ""


def test_a_truncated_non_2xx_is_a_failure_named_by_its_status():
    response = SendResult(status_code=500, body_truncated=True, error_class="BodyTruncated")

    outcome = decide(delivery(attempts=1), response, now=NOW)

    assert outcome.status == DeliveryStatus.PENDING
    assert outcome.last_error == "HTTP 500"


@pytest.mark.parametrize("status", [199, 300, 302, 404])
def test_anything_outside_2xx_is_not_a_success(status):
    outcome = decide(delivery(attempts=1), SendResult(status_code=status), now=NOW)

    assert outcome.status == DeliveryStatus.PENDING


def test_a_timeout_after_the_status_line_is_not_a_success():
    # given the receiver sent "200" but never finished its answer
    response = SendResult(status_code=200, error_class="Timeout", error_message="too slow")

    outcome = decide(delivery(attempts=1), response, now=NOW)

    assert outcome.status == DeliveryStatus.PENDING
    assert outcome.last_error == "Timeout: too slow"
