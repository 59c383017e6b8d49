"""What happens after an attempt: done, tried again when, or given up.

`decide` reads a send result; `retry_delay` is the retry policy, a pure
function (no clock, no Celery), so both are tested without either.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.conf import settings

from deliveries.http import SendResult
from deliveries.models import Delivery, DeliveryStatus


@dataclass
class Outcome:
    status: str
    next_attempt_at: dt.datetime | None
    finished_at: dt.datetime | None
    last_status_code: int | None
    last_error: str
    retry_in: float | None  # seconds, when retried


def decide(delivery: Delivery, result: SendResult, *, now: dt.datetime) -> Outcome:
    """What happens to a delivery after an attempt: done, retried later, or failed."""
    if result.ok:
        return Outcome(DeliveryStatus.SUCCEEDED, None, now, result.status_code, "", None)
    policy = RetryPolicy.from_settings(max_attempts=delivery.webhook.effective_max_attempts)
    delay = retry_delay(policy, attempts_made=delivery.attempts, rand=random.random())
    error = result.summary
    if delay is None:
        return Outcome(DeliveryStatus.FAILED, None, now, result.status_code, error, None)
    next_at = now + dt.timedelta(seconds=delay)
    return Outcome(DeliveryStatus.PENDING, next_at, None, result.status_code, error, delay)


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
