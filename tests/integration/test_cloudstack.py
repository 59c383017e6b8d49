"""CloudStack's finer points through a real worker and a real receiver:
include/exclude filter rules, domain-level delivery settings (inherited and
overridden, a change applying to the next event), and the worker recorded on
each attempt, filterable in the deliveries list."""

from __future__ import annotations

import os
import socket
import time

import pytest

from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from deliveries.publishing import event_publish
from deliveries.receiver import always
from hooks.domain_settings import domain_set_delivery
from hooks.event_filters import filter_rule
from tests.api_client import client_for
from tests.factories import TEST_SECRET, UserFactory, WebhookFactory
from tests.live import wait_until

pytestmark = pytest.mark.integration


def finished(delivery_id) -> Delivery | None:
    delivery = Delivery.objects.get(pk=delivery_id)
    return delivery if delivery.is_finished else None


def publish(type_: str, account) -> Delivery:
    result = event_publish(type=type_, data={"n": 1}, account=account)
    return result.event.deliveries.get()


def test_include_and_exclude_rules_decide_what_the_receiver_gets(worker, receivers, tenants):
    # given a webhook with every match mode among its rules and a pattern
    r = receivers(secret=TEST_SECRET)
    acct = tenants["east_acct"]
    rules = [
        filter_rule(mode="include", match="prefix", value="VOLUME."),
        filter_rule(mode="include", match="exact", value="NET.CREATE"),
        filter_rule(mode="include", match="contains", value="SNAPSHOT"),
        filter_rule(mode="exclude", match="suffix", value=".DELETE"),
        filter_rule(mode="exclude", match="contains", value="SECRET"),
    ]
    WebhookFactory(
        account=acct, payload_url=f"{r.url}/ruled", event_types=["VM.*"], event_filters=rules
    )
    types = [
        "VM.START",  # the pattern
        "VOLUME.CREATE",  # prefix
        "NET.CREATE",  # exact
        "HOST.SNAPSHOT.TAKE",  # contains
        "VM.DELETE",  # pattern, but excluded by suffix
        "VOLUME.SECRET.READ",  # prefix, but excluded by contains
        "NET.UPDATE",  # no include matches
    ]

    # when each is published
    published = [event_publish(type=t, data={}, account=acct) for t in types]

    # then exactly the four let through arrive
    assert [p.delivery_count for p in published] == [1, 1, 1, 1, 0, 0, 0]
    received = r.wait_for(4)
    time.sleep(0.5)  # nothing more comes
    assert sorted(x.json["type"] for x in r.received) == sorted(types[:4])
    assert all(x.signature == "valid" for x in received)


def test_domain_attempts_apply_below_unless_a_subdomain_sets_its_own(worker, receivers, tenants):
    # given a receiver that always fails, and the worker's default of 3 attempts
    r = receivers(responder=always(500))
    sub_acct = tenants["east_sub_acct"]
    first = WebhookFactory(account=sub_acct, payload_url=f"{r.url}/first")

    # when east allows 2 attempts, an east-sub webhook's delivery makes 2
    domain_set_delivery(domain=tenants["east"], delivery_max_attempts=2)
    delivery = publish("VM.CREATE", sub_acct)
    done = wait_until(lambda: finished(delivery.id), message="first delivery to finish")
    assert (done.status, done.attempts) == (DeliveryStatus.FAILED, 2)

    # and once east-sub sets 1, the next event to another of its webhooks makes 1
    first.delete()
    WebhookFactory(account=sub_acct, payload_url=f"{r.url}/second")
    domain_set_delivery(domain=tenants["east_sub"], delivery_max_attempts=1)
    delivery = publish("VM.CREATE", sub_acct)
    done = wait_until(lambda: finished(delivery.id), message="second delivery to finish")
    assert (done.status, done.attempts) == (DeliveryStatus.FAILED, 1)


def test_domain_timeout_applies_unless_the_webhook_sets_its_own(worker, receivers, tenants):
    # given a receiver that answers after 1.2 s, under the worker's 2 s timeout
    r = receivers(responder=lambda got: (time.sleep(1.2), (200, b"{}"))[1])
    acct = tenants["west_acct"]
    inherits = WebhookFactory(account=acct, payload_url=f"{r.url}/inherits")
    own = WebhookFactory(account=acct, payload_url=f"{r.url}/own", timeout=2)
    # when west allows 0.5 s and a single attempt
    domain_set_delivery(domain=tenants["west"], delivery_timeout=0.5, delivery_max_attempts=1)

    result = event_publish(type="VM.CREATE", data={}, account=acct)

    # then the inheriting webhook's attempt timed out at 0.5 s; the other's waited
    by_hook = {d.webhook_id: d for d in result.event.deliveries.all()}
    short = wait_until(lambda: finished(by_hook[inherits.id].id), message="inheriting one")
    long = wait_until(lambda: finished(by_hook[own.id].id), message="own-timeout one")
    assert short.status == DeliveryStatus.FAILED
    attempt = short.attempt_set.get()
    assert attempt.error_class == "Timeout", attempt.error_message
    assert 400 <= attempt.duration_ms < 1100
    assert long.status == DeliveryStatus.SUCCEEDED


def test_each_attempt_names_the_worker_that_sent_it(worker, receivers, tenants):
    # given two attempts by the real worker (a failure, then a success)
    answers = iter([500, 200])
    r = receivers(responder=lambda got: always(next(answers))(got))
    acct = tenants["east_acct"]
    WebhookFactory(account=acct, payload_url=r.url)
    delivery = publish("VM.CREATE", acct)
    wait_until(lambda: finished(delivery.id), message="delivery to finish")

    # then each attempt names the worker's host and a process that is not ours
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert len(attempts) == 2
    for attempt in attempts:
        host, pid = attempt.worker.rsplit(":", 1)
        assert host == socket.gethostname()
        assert int(pid) != os.getpid()
    # and the deliveries list filters by it, by process and by host
    admin = client_for(UserFactory(username="ops", is_superuser=True, is_staff=True))
    for worker_id in (attempts[0].worker, socket.gethostname()):
        listed = admin.get(f"/api/v1/deliveries/?worker={worker_id}").json()["results"]
        assert [d["id"] for d in listed] == [str(delivery.id)]
    assert admin.get("/api/v1/deliveries/?worker=elsewhere:1").json()["results"] == []
    detail = admin.get(f"/api/v1/deliveries/{delivery.id}/").json()
    assert [a["worker"] for a in detail["attempts_made"]] == [a.worker for a in attempts]
