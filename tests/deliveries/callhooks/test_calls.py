"""call_hook from plain Python (deliveries/callhooks/calls.py): the pre and post
events a hooked call publishes, their XO bodies, and a call that is never
slowed or broken by its hooks."""

from __future__ import annotations

import logging
import time

import pytest
from django.db import connection, transaction

from core import jsontext
from deliveries.callhooks import call_hook
from deliveries.models import Delivery, Event
from tests.factories import MembershipFactory, WebhookFactory

pytestmark = pytest.mark.django_db

PRE_KEYS = ["type", "callId", "userId", "userName", "method", "params", "timestamp"]


@pytest.fixture
def ann(tenants):
    return MembershipFactory(account=tenants["east_acct"], user__username="ann").user


@pytest.fixture
def vm_hook(tenants):
    """East's call hook for vm.*, pre and post."""
    return WebhookFactory(name="vm-calls", account=tenants["east_acct"], call_methods=["vm.*"])


def call_events() -> tuple[dict, dict]:
    """The XO bodies as receivers get them (jsonb's `data` reorders keys)."""
    pre = Event.objects.get(type="call.pre")
    post = Event.objects.get(type="call.post")
    return jsontext.loads(pre.data_text), jsontext.loads(post.data_text)


@call_hook("vm.start")
def vm_start(vm_id, *, force=False, user=None):
    time.sleep(0.02)
    return {"id": vm_id, "power_state": "Running"}


class Boom(RuntimeError):
    pass


@call_hook("vm.migrate")
def vm_migrate(vm_id, *, user=None):
    raise Boom(f"cannot migrate {vm_id}: no host")


def test_a_decorated_call_publishes_pre_and_post_with_the_same_call_id(vm_hook, ann, tenants):
    before = int(time.time() * 1000)

    result = vm_start("vm-42", force=True, user=ann)

    after = int(time.time() * 1000)
    assert result == {"id": "vm-42", "power_state": "Running"}
    pre, post = call_events()
    assert list(pre) == PRE_KEYS
    assert list(post) == [*PRE_KEYS, "duration", "result"]
    assert pre["type"] == "pre" and post["type"] == "post"
    assert pre["callId"] == post["callId"]
    for body in (pre, post):
        assert body["userId"] == str(ann.pk)
        assert body["userName"] == "ann"
        assert body["method"] == "vm.start"
        assert body["params"] == {"vm_id": "vm-42", "force": True}  # the caller is not a param
    assert before <= pre["timestamp"] <= post["timestamp"] <= after
    assert 20 <= post["duration"] <= after - before
    assert post["timestamp"] - pre["timestamp"] >= post["duration"] - 1
    assert post["result"] == {"id": "vm-42", "power_state": "Running"}
    # In the caller's tenancy, delivered to the webhook that asked.
    for event in Event.objects.all():
        assert event.account == tenants["east_acct"] and event.domain == tenants["east"]
        assert event.resource_type == "call" and event.resource_id == pre["callId"]
    assert Delivery.objects.filter(webhook=vm_hook).count() == 2


def test_a_failed_call_posts_its_error_and_the_exception_propagates_unchanged(vm_hook, ann):
    with pytest.raises(Boom) as raised:
        vm_migrate("vm-42", user=ann)

    assert str(raised.value) == "cannot migrate vm-42: no host"
    pre, post = call_events()
    assert list(post) == [*PRE_KEYS, "duration", "error"]
    assert post["error"] == {"class": "Boom", "message": "cannot migrate vm-42: no host"}
    assert pre["callId"] == post["callId"]


def test_the_context_manager_takes_params_and_the_result(vm_hook, ann):
    with call_hook("vm.snapshot", params={"id": "vm-7", "name": "nightly"}, user=ann) as call:
        call.set_result({"snapshot": "snap-1"})

    pre, post = call_events()
    assert pre["params"] == post["params"] == {"id": "vm-7", "name": "nightly"}
    assert post["result"] == {"snapshot": "snap-1"}
    assert pre["callId"] == post["callId"] == call.id


def test_the_context_manager_lets_an_exception_through(vm_hook, ann):
    with pytest.raises(KeyError), call_hook("vm.stop", params={"id": "vm-7"}, user=ann):
        {}["missing"]

    _, post = call_events()
    assert post["error"] == {"class": "KeyError", "message": "'missing'"}


def test_no_listener_no_event(tenants, ann, django_assert_num_queries):
    WebhookFactory(account=tenants["east_acct"], call_methods=["webhook.*"])
    WebhookFactory(account=tenants["west_acct"], call_methods=["vm.*"])  # not in ann's scope
    vm_start("vm-1", user=ann)  # reads the listeners once

    with django_assert_num_queries(0):
        vm_start("vm-1", user=ann)

    assert not Event.objects.exists()


def test_only_the_phase_asked_for_is_published(tenants, ann):
    WebhookFactory(account=tenants["east_acct"], call_methods=["vm.*"], call_phase="post")

    vm_start("vm-1", user=ann)

    assert list(Event.objects.values_list("type", flat=True)) == ["call.post"]


def test_secrets_in_params_and_results_are_redacted(vm_hook, ann):
    @call_hook("vm.setPassword")
    def set_password(vm_id, password, *, user=None):
        return {"id": vm_id, "password": password}

    set_password("vm-1", "s3cr3t-pw", user=ann)

    for body in call_events():
        assert "s3cr3t-pw" not in str(body)
    pre, post = call_events()
    assert pre["params"] == {"vm_id": "vm-1", "password": "[redacted]"}
    assert post["result"] == {"id": "vm-1", "password": "[redacted]"}


def test_a_caller_without_a_user_names_the_account(tenants, vm_hook):
    with call_hook("vm.start", params={"id": "vm-1"}, account=tenants["east_acct"]):
        pass

    pre, _ = call_events()
    assert pre["userId"] is None and pre["userName"] is None
    assert Event.objects.filter(account=tenants["east_acct"]).count() == 2


def test_a_publish_failure_is_logged_not_raised(vm_hook, ann, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr("deliveries.callhooks.calls.event_publish", broken)

    with caplog.at_level(logging.ERROR, logger="deliveries.callhooks.calls"):
        assert vm_start("vm-1", user=ann) == {"id": "vm-1", "power_state": "Running"}
        with pytest.raises(Boom):
            vm_migrate("vm-1", user=ann)  # the call's own exception, not the publish's

    assert [r.getMessage().split(" (call")[0] for r in caplog.records] == [
        "could not publish call.pre of vm.start",
        "could not publish call.post of vm.start",
        "could not publish call.pre of vm.migrate",
        "could not publish call.post of vm.migrate",
    ]


def test_a_listener_read_failure_leaves_the_call_unhooked(vm_hook, ann, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("no database")

    monkeypatch.setattr("deliveries.callhooks.calls.call_listeners.phases", broken)

    with caplog.at_level(logging.ERROR, logger="deliveries.callhooks.calls"):
        assert vm_start("vm-1", user=ann)["id"] == "vm-1"

    assert not Event.objects.exists()
    assert "vm.start" in caplog.text


def test_the_events_go_with_the_callers_transaction(vm_hook, ann):
    # Queued after commit as any event: a caller's rollback takes them with it.
    with pytest.raises(Boom), transaction.atomic():
        vm_migrate("vm-1", user=ann)

    assert not Event.objects.exists()


def test_a_call_with_wrong_arguments_raises_its_own_type_error(vm_hook, ann):
    with pytest.raises(TypeError):
        vm_start()  # type: ignore[call-arg]
    assert not Event.objects.exists()


def test_a_method_name_is_checked_when_the_hook_is_made():
    with pytest.raises(ValueError, match="not a method name"):
        call_hook("vm start")


def test_methods_and_self_of_a_class(vm_hook, ann):
    class VM:
        @call_hook("vm.reboot")
        def reboot(self, *, mode="soft", user=None, **extra):
            return "ok"

    VM().reboot(mode="hard", user=ann, reason="patch")

    pre, post = call_events()
    assert pre["params"] == {"mode": "hard", "reason": "patch"}
    assert post["result"] == "ok"


def test_an_exception_that_cannot_print_itself_still_propagates(vm_hook, ann):
    class Mute(Exception):
        def __str__(self):
            raise ValueError("no")

    with pytest.raises(Mute), call_hook("vm.stop", user=ann):
        raise Mute()

    _, post = call_events()
    assert post["error"] == {"class": "Mute", "message": "<Mute with an unprintable message>"}


def test_one_hook_object_serves_threads_at_once(vm_hook, ann, transactional_db):
    import threading

    hook = call_hook("vm.console", params={"id": "vm-1"}, user=ann)
    inside, ids = threading.Barrier(2), {}

    def run(name):
        try:
            with hook as call:
                inside.wait(timeout=5)  # both calls are open at once
                call.result = name
            ids[name] = call.id
        finally:
            connection.close()  # this thread's own

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    posts = {
        jsontext.loads(e.data_text)["callId"]: jsontext.loads(e.data_text)["result"]
        for e in Event.objects.filter(type="call.post")
    }
    assert posts == {ids["a"]: "a", ids["b"]: "b"}
