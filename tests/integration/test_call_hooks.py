"""Call hooks end to end: a real API call through the live server (or a
hooked Python call), the call.pre and call.post events it publishes, a real
Celery worker delivering them, and an XO-style receiver on 127.0.0.1 that
reads each request as an XO hook body (the envelope's `data`)."""

from __future__ import annotations

import time

import pytest
import requests

from deliveries.callhooks import call_hook
from deliveries.models import Delivery, Event
from hooks.models import Role
from hooks.services import token_issue
from tests.factories import TEST_SECRET, MembershipFactory, WebhookFactory
from tests.live import wait_until

pytestmark = pytest.mark.integration


class XOReceiver:
    """What an XO hook handler does with a request: `type`, `callId`,
    `method`, `params`, `timestamp`, `result` or `error`, keyed by path."""

    def __init__(self, receiver):
        self.receiver = receiver

    def hooks(self, path: str) -> list[dict]:
        return [r.json["data"] for r in self.receiver.received if r.path == path]

    def signatures(self) -> set[str]:
        return {r.signature for r in self.receiver.received}


@pytest.fixture
def xo(receivers):
    return XOReceiver(receivers(secret=TEST_SECRET))


@pytest.fixture
def eve(tenants):
    """East's domain admin, with a token for the live server."""
    user = MembershipFactory(
        account=tenants["east_acct"], role=Role.DOMAIN_ADMIN, user__username="eve"
    ).user
    return user, {"Authorization": f"Token {token_issue(user=user)[1]}"}


def all_delivered() -> bool:
    return (
        Delivery.objects.exists()
        and not Delivery.objects.exclude(status__in=["succeeded", "failed"]).exists()
    )


def test_an_api_call_reaches_an_xo_receiver_as_a_pre_post_pair(
    worker, live_server, xo, tenants, eve
):
    # Given east's call hooks: all webhook methods both phases, one method
    # post only, and one for other methods
    east = tenants["east_acct"]
    url = xo.receiver.url
    WebhookFactory(name="all", account=east, payload_url=f"{url}/all", call_methods=["webhook.*"])
    WebhookFactory(
        name="post",
        account=east,
        payload_url=f"{url}/post",
        call_methods=["webhook.create"],
        call_phase="post",
    )
    WebhookFactory(name="vm", account=east, payload_url=f"{url}/vm", call_methods=["vm.*"])
    user, auth = eve

    # When eve creates a webhook through the live server
    body = {
        "name": "orders",
        "payload_url": "https://example.com/orders",
        "event_types": ["VM.*"],
        "auth_password": "listener-pw-1",
    }
    response = requests.post(
        f"{live_server.url}/api/v1/webhooks/", json=body, headers=auth, timeout=10
    )

    # Then the XO receiver gets pre then post with one callId, on the paths that asked
    assert response.status_code == 201, response.text
    xo.receiver.wait_for(3)
    wait_until(all_delivered, message="the call events delivered")
    both = sorted(xo.hooks("/all"), key=lambda hook: hook["timestamp"])
    assert [hook["type"] for hook in both] == ["pre", "post"]
    pre, post = both
    assert pre["callId"] == post["callId"]
    assert pre["method"] == post["method"] == "webhook.create"
    assert pre["userId"] == str(user.pk) and pre["userName"] == "eve"
    assert pre["params"] == body | {"auth_password": "[redacted]"}
    assert post["result"]["id"] == response.json()["id"]
    assert post["result"]["secret"] == "[redacted]"  # generated and shown to eve, once
    assert response.json()["secret"] not in str(xo.receiver.received)
    assert post["duration"] >= 0 and post["timestamp"] >= pre["timestamp"]
    assert [hook["type"] for hook in xo.hooks("/post")] == ["post"]
    assert xo.hooks("/post")[0]["callId"] == pre["callId"]
    assert xo.hooks("/vm") == []
    assert xo.signatures() == {"valid"}
    # The envelope says what it is: a call event of east's tenancy.
    envelope = xo.receiver.received[0].json
    assert envelope["type"] in ("call.pre", "call.post")
    assert envelope["account"] == str(tenants["east_acct"].id)
    assert envelope["resource"] == {"id": pre["callId"], "type": "call"}


def test_a_failed_api_call_posts_its_error(worker, live_server, xo, tenants, eve):
    WebhookFactory(
        account=tenants["east_acct"],
        payload_url=f"{xo.receiver.url}/audit",
        call_methods=["*"],
        call_phase="post",
    )
    _, auth = eve

    response = requests.post(
        f"{live_server.url}/api/v1/webhooks/",
        json={"name": "bad", "payload_url": "ftp://example.com/"},
        headers=auth,
        timeout=10,
    )

    assert response.status_code == 400
    xo.receiver.wait_for(1)
    (post,) = xo.hooks("/audit")
    assert post["type"] == "post" and post["method"] == "webhook.create"
    assert post["error"]["class"] == "ValidationError"
    assert post["error"]["status"] == 400
    assert "payload_url" in post["error"]["message"]
    assert "result" not in post


def test_publishing_over_the_api_hooks_only_for_a_listener(worker, live_server, xo, tenants, eve):
    # Given an ordinary webhook for VM events and a call hook for event.publish
    east = tenants["east_acct"]
    WebhookFactory(account=east, payload_url=f"{xo.receiver.url}/vm", event_types=["VM.*"])
    WebhookFactory(
        account=east, payload_url=f"{xo.receiver.url}/calls", call_methods=["event.publish"]
    )
    _, auth = eve

    response = requests.post(
        f"{live_server.url}/api/v1/events/",
        json={"type": "VM.CREATE", "data": {"name": "web-1"}},
        headers=auth,
        timeout=10,
    )

    # Then: the event to the VM webhook, its call's pre and post to the call
    # hook, and nothing more (the call events are not calls themselves)
    assert response.status_code == 202
    xo.receiver.wait_for(3)
    wait_until(all_delivered, message="deliveries to finish")
    time.sleep(0.5)  # room for a fourth request, if one were wrongly made
    assert Event.objects.count() == 3
    assert len(xo.receiver.received) == 3
    (vm,) = [r.json for r in xo.receiver.received if r.path == "/vm"]
    assert vm["type"] == "VM.CREATE"
    calls = xo.hooks("/calls")
    assert sorted(hook["type"] for hook in calls) == ["post", "pre"]
    assert {hook["params"]["type"] for hook in calls} == {"VM.CREATE"}


@call_hook("vm.start")
def vm_start(vm_id: str, *, user=None) -> dict:
    return {"id": vm_id, "power_state": "Running"}


def test_a_hooked_python_call_is_delivered(worker, xo, tenants, eve):
    WebhookFactory(
        account=tenants["east_acct"], payload_url=f"{xo.receiver.url}/vm", call_methods=["vm.*"]
    )
    user, _ = eve

    assert vm_start("vm-42", user=user) == {"id": "vm-42", "power_state": "Running"}

    xo.receiver.wait_for(2)
    pre, post = sorted(xo.hooks("/vm"), key=lambda hook: hook["type"] == "post")
    assert pre["callId"] == post["callId"]
    assert pre["params"] == {"vm_id": "vm-42"}
    assert post["result"] == {"id": "vm-42", "power_state": "Running"}
