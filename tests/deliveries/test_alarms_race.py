"""The race alarms.py's incident lock closes (PostgreSQL): a finish that
schedules a repeat while the incident's resolving event is being published in
another transaction. Without the lock, the finish would not see the resolve
(uncommitted) and the resolve would not see the repeat (uncommitted): a
repeat left behind. With it, the resolve waits and then stops the repeat."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from deliveries import alarms, queue
from deliveries.http import SendResult
from deliveries.models import Delivery
from deliveries.pipeline.outcome import decide
from deliveries.publishing import event_publish
from tests.factories import WebhookFactory

pytestmark = pytest.mark.django_db(transaction=True)


def advisory_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0]


def test_a_resolve_racing_a_finish_leaves_no_repeat(tenants, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises its writers: no such race")
    monkeypatch.setattr(queue, "deliveries_enqueue", lambda ids, **kw: None)
    acct = tenants["east_acct"]
    WebhookFactory(account=acct, repeat_every=60)
    firing = event_publish(type="ALARM", data={}, account=acct, incident_key="k").event
    delivery = Delivery.objects.select_related("event", "webhook").get(event=firing)
    outcome = decide(delivery, SendResult(status_code=200), now=timezone.now())
    errors: list[BaseException] = []

    def resolve():
        try:
            event_publish(
                type="ALARM", data={}, account=acct, incident_key="k", incident_state="resolved"
            )
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    # Given the finish's transaction holds the incident's lock
    with transaction.atomic():
        alarms.incident_lock(firing)
        # When the resolve is published meanwhile, it waits for the lock
        other = threading.Thread(target=resolve)
        other.start()
        deadline = time.monotonic() + 10
        while not advisory_waiters():
            assert time.monotonic() < deadline, "the resolve never waited for the lock"
            time.sleep(0.02)
        # ... and the finish, not seeing the uncommitted resolve, schedules a repeat
        assert len(alarms.repeats_schedule([(delivery, outcome)], now=timezone.now())) == 1
    other.join(10)
    assert not errors, errors

    # Then the resolve, once it had the lock, saw the repeat and stopped it
    assert not Delivery.objects.filter(event=firing, repeat__gt=0).exists()
