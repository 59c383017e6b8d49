"""Payload formats end to end: one event published over the REST API with its
actor, a real worker, one webhook per format (and header style), a real
receiver on 127.0.0.1 that gets each format's exact bytes, signed as sent."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook as StandardWebhook

from deliveries.models import Delivery, Event
from deliveries.publishing import event_publish
from hooks.models import HeaderStyle, PayloadFormat
from hooks.services import token_issue
from tests.factories import TEST_SECRET, WebhookFactory
from tests.live import wait_until

pytestmark = pytest.mark.integration

# The producer's own text: 1.50 and the key order must arrive as written.
EVENT = (
    '{"type": "VM.ON", "account": "%(account)s", "timestamp": "2022-01-01T22:00:00.2111Z",'
    ' "resource": {"id": "63a942ac-d0ee-4dc8-b92e-8e009b703d84", "type": "vm"},'
    ' "actor": {"id": "0000aaaa-aaaa-0000-0000-0000aaaa0000", "name": "alice@example.com"},'
    ' "data": {"zone": "gz", "alarmStatus": 1, "alarmObjInfo": {"region": "gz"}, "cpu": 1.50}}'
)
DATA = '{"zone":"gz","alarmStatus":1,"alarmObjInfo":{"region":"gz"},"cpu":1.50}'
RESOURCE = "63a942ac-d0ee-4dc8-b92e-8e009b703d84"
USER = "0000aaaa-aaaa-0000-0000-0000aaaa0000"


def expected_bodies(event: Event, delivery_ids: dict[str, str]) -> dict[str, bytes]:
    account, domain = event.account_id, event.domain_id
    envelope = (
        f'"id":"{event.id}","type":"VM.ON","timestamp":"2022-01-01T22:00:00.211100Z",'
        f'"account":"{account}","domain":"{domain}",'
        f'"resource":{{"id":"{RESOURCE}","type":"vm"}},'
        f'"actor":{{"id":"{USER}","name":"alice@example.com"}},"data":{DATA}'
    )
    cloudstack = (
        f'{{"user":"{USER}","account":"{account}","event":"VM.ON","status":"Completed",'
        f'"entity":"vm","entityuuid":"{RESOURCE}","description":"",'
        f'"eventDateTime":"2022-01-01 22:00:00 +0000","data":{DATA}}}'
    )
    bodies = {
        "standard": f"{{{envelope}}}",
        "cloudstack": cloudstack,
        "cloudstack-cs-headers": cloudstack,
        "nutanix": (
            f'{{"version":"1.0","data":{DATA},"event_type":"VM.ON",'
            f'"entity_reference":{{"kind":"vm","uuid":"{RESOURCE}"}}}}'
        ),
        "mycloudit": (
            f'{{"Id":"{event.id}","UserId":"{USER}","CustomerId":"{account}","Type":"VM.ON",'
            f'"ResourceId":"{RESOURCE}","Timestamp":"2022-01-01T22:00:00.2111000Z",'
            f'"ActionData":{DATA}}}'
        ),
        "xo": (
            f'{{"type":"post","callId":"{event.id}","userId":"{USER}",'
            f'"userName":"alice@example.com","method":"VM.ON","params":{DATA},'
            f'"timestamp":1641074400211,"duration":0,"result":null}}'
        ),
        "tencent": (
            f'{{"sessionId":"{delivery_ids["tencent"]}","alarmStatus":1,'
            f'"alarmObjInfo":{{"region":"gz"}}}}'
        ),
        "tencent-cs-headers": (
            f'{{"sessionId":"{delivery_ids["tencent-cs-headers"]}","alarmStatus":1,'
            f'"alarmObjInfo":{{"region":"gz"}}}}'
        ),
    }
    return {path: body.encode() for path, body in bodies.items()}


def test_one_event_reaches_a_webhook_of_each_format_with_its_exact_body_signed(
    worker, receivers, tenants, django_user_model
):
    # Given a webhook of each payload format (two also with CloudStack's headers)
    r = receivers(secret=TEST_SECRET)
    acct = tenants["east_acct"]
    hooks = {fmt: {"payload_format": fmt} for fmt in PayloadFormat.values}
    for fmt in ("cloudstack", "tencent"):
        hooks[f"{fmt}-cs-headers"] = {"payload_format": fmt, "header_style": "cloudstack"}
    webhooks = {
        path: WebhookFactory(payload_url=f"{r.url}/{path}", account=acct, **fields)
        for path, fields in hooks.items()
    }
    admin = django_user_model.objects.create_superuser("producer", password="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=admin)[1]}")

    # When one event is published over the REST API, naming who acted
    response = client.post(
        "/api/v1/events/", EVENT % {"account": acct.id}, content_type="application/json"
    )

    # Then each receiver path gets its format's exact bytes, once, signed in its style
    assert response.status_code == 202, response.content
    assert response.json()["deliveries"] == len(hooks)
    event = Event.objects.get(id=response.json()["id"])
    received = {x.path.lstrip("/"): x for x in r.wait_for(len(hooks))}
    delivery_ids = {
        path: str(Delivery.objects.get(event=event, webhook=webhook).id)
        for path, webhook in webhooks.items()
    }
    expected = expected_bodies(event, delivery_ids)
    assert set(received) == set(expected)
    for path, got in received.items():
        assert got.body == expected[path], path
        assert got.signature == "valid", path
        if webhooks[path].header_style == HeaderStyle.CLOUDSTACK:
            assert got.headers["x-cs-event-id"] == str(event.id)
            assert got.headers["x-cs-event"] == "VM.ON"
            digest = hmac.new(TEST_SECRET.encode(), got.body, hashlib.sha256).digest()
            assert got.headers["x-cs-signature"] == base64.b64encode(digest).decode()
            assert "webhook-signature" not in got.headers
        else:
            StandardWebhook(TEST_SECRET).verify(got.body, got.headers)
            assert got.headers["webhook-id"] == str(event.id)
    wait_until(
        lambda: set(event.deliveries.values_list("status", flat=True)) == {"succeeded"},
        message="every delivery recorded as succeeded",
    )


def test_a_call_hook_event_reaches_xo_as_published_and_a_delete_reaches_nutanix_bare(
    worker, receivers, tenants
):
    # Given an XO webhook for call hooks and a Nutanix one for deletes
    r = receivers(secret=TEST_SECRET)
    acct = tenants["east_acct"]
    WebhookFactory(
        payload_url=f"{r.url}/xo", account=acct, payload_format="xo", event_types=["call.*"]
    )
    WebhookFactory(
        payload_url=f"{r.url}/nutanix",
        account=acct,
        payload_format="nutanix",
        event_types=["VM.DELETE"],
    )
    call = {
        "type": "post", "callId": "0f3c", "userId": "u-1", "userName": "admin@admin.net",
        "method": "vm.start", "params": {"id": "vm-1"}, "timestamp": 1641074400211,
        "duration": 12, "result": True,
    }  # fmt: skip

    # When a call-hook event and a VM.DELETE are published from Python
    event_publish(type="call.vm.start", data=call, account=acct)
    event_publish(type="VM.DELETE", data={"spec": {}}, account=acct, resource_id="uuid-9")

    # Then XO gets the hook body exactly, Nutanix the uuid without data
    got = {x.path: x for x in r.wait_for(2)}
    assert got["/xo"].body == (
        b'{"type":"post","callId":"0f3c","userId":"u-1","userName":"admin@admin.net",'
        b'"method":"vm.start","params":{"id":"vm-1"},"timestamp":1641074400211,'
        b'"duration":12,"result":true}'
    )
    assert got["/nutanix"].body == (
        b'{"version":"1.0","event_type":"VM.DELETE",'
        b'"entity_reference":{"kind":"vm","uuid":"uuid-9"}}'
    )
    assert {x.signature for x in got.values()} == {"valid"}
