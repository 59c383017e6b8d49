"""What a delivery is sent with: the body, the headers of each style, and what
of them is stored with the attempt (redacted).

Signing is pinned exactly; the Standard Webhooks library itself checks that
receivers written against it accept what we send.
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid

import pytest
import time_machine
from django.conf import settings
from standardwebhooks.webhooks import Webhook as StandardWebhook

from core.signing import standard_signature
from deliveries.formats import nutanix
from deliveries.pipeline import request as request_module
from deliveries.pipeline.request import (
    REDACTED,
    Bodies,
    delivery_headers,
    delivery_request,
    event_body,
    redacted,
)
from hooks.models import HeaderStyle, PayloadFormat
from hooks.services import generate_secret
from tests.factories import AccountFactory, DeliveryFactory, EventFactory, WebhookFactory

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


EVENT_ID = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")


ACCOUNT_ID = uuid.UUID("01890a5d-ac96-7c00-8000-000000000001")


def _hmac_b64(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def _event(**kwargs):
    account = AccountFactory.build(id=ACCOUNT_ID)
    defaults = {
        "id": EVENT_ID,
        "account": account,
        "domain": account.domain,
        "type": "VM.CREATE",
        "data": {"name": "vm-1"},
        "occurred_at": NOW,
    }
    return EventFactory.build(**{**defaults, **kwargs})


def test_standard_headers():
    # given
    webhook = WebhookFactory.build(header_style=HeaderStyle.STANDARD, secret=SECRET)
    event = _event()
    body = event_body(event)
    timestamp = int(NOW.timestamp())

    # when
    headers = delivery_headers(webhook=webhook, event=event, body=body, timestamp=timestamp)

    # then
    assert headers == [
        ("Content-Type", "application/json"),
        ("User-Agent", settings.WEBHOOK_USER_AGENT),
        ("webhook-id", str(EVENT_ID)),
        ("webhook-timestamp", "1714564800"),
        (
            "webhook-signature",
            standard_signature(secret=SECRET, msg_id=str(EVENT_ID), timestamp=timestamp, body=body),
        ),
    ]


@time_machine.travel(NOW, tick=False)
def test_standard_headers_verify_with_the_standard_webhooks_library():
    # given a webhook with a freshly generated secret
    webhook = WebhookFactory.build(header_style=HeaderStyle.STANDARD, secret=generate_secret())
    event = _event()
    body = event_body(event)

    # when
    headers = dict(
        delivery_headers(webhook=webhook, event=event, body=body, timestamp=int(NOW.timestamp()))
    )

    # then the receiver gets back the event's envelope
    payload = StandardWebhook(webhook.secret).verify(body, headers)
    assert payload == json.loads(body) == event.envelope()
    assert payload["id"] == str(EVENT_ID)


def test_the_body_is_compact_utf8_json_of_the_envelope():
    event = _event(data={"name": "vérifié", "n": 1})

    body = event_body(event)

    assert (
        body
        == (
            '{"id":"01890a5d-ac96-774b-bcce-b302099a8057","type":"VM.CREATE",'
            '"timestamp":"2024-05-01T12:00:00Z","account":"01890a5d-ac96-7c00-8000-000000000001",'
            f'"domain":"{event.domain_id}","resource":null,"actor":null,"data":{{"name":"vérifié","n":1}}}}'
        ).encode()
    )


def test_cloudstack_headers():
    # given
    webhook = WebhookFactory.build(header_style=HeaderStyle.CLOUDSTACK, secret=SECRET)
    event = _event(type="VM.DESTROY")
    body = event_body(event)

    # when
    headers = delivery_headers(webhook=webhook, event=event, body=body, timestamp=1)

    # then
    assert headers == [
        ("Content-Type", "application/json"),
        ("User-Agent", f"CS-Hookshot/{ACCOUNT_ID}"),
        ("X-CS-Event-ID", str(EVENT_ID)),
        ("X-CS-Event", "VM.DESTROY"),
        ("X-CS-Signature", _hmac_b64(SECRET.encode(), body)),
    ]
    assert not any(name.startswith("webhook-") for name, _ in headers)


@pytest.mark.parametrize("style", [HeaderStyle.STANDARD, HeaderStyle.CLOUDSTACK])
def test_no_signature_header_without_a_secret(style):
    webhook = WebhookFactory.build(header_style=style, secret="")
    event = _event()

    headers = dict(
        delivery_headers(webhook=webhook, event=event, body=event_body(event), timestamp=1)
    )

    assert "webhook-signature" not in headers
    assert "X-CS-Signature" not in headers
    # the rest of the style is still there
    assert headers.keys() & {"webhook-id", "X-CS-Event-ID"}


@pytest.mark.parametrize("style", [HeaderStyle.STANDARD, HeaderStyle.CLOUDSTACK])
def test_basic_auth_header_when_credentials_are_set(style):
    # given
    webhook = WebhookFactory.build(
        header_style=style, auth_username="listener", auth_password="s3cr:et"
    )
    event = _event()

    # when
    headers = delivery_headers(webhook=webhook, event=event, body=event_body(event), timestamp=1)

    # then
    expected = "Basic " + base64.b64encode(b"listener:s3cr:et").decode()
    assert dict(headers)["Authorization"] == expected
    # and what is stored with the attempt hides it, keeping every other header
    stored = redacted(headers)
    assert stored["Authorization"] == REDACTED == "[redacted]"
    assert {k: v for k, v in stored.items() if k != "Authorization"} == {
        k: v for k, v in headers if k != "Authorization"
    }


def test_no_authorization_header_without_credentials():
    webhook = WebhookFactory.build(auth_username="", auth_password="")
    event = _event()

    headers = delivery_headers(webhook=webhook, event=event, body=event_body(event), timestamp=1)

    assert "Authorization" not in dict(headers)


def test_redacted_matches_the_header_name_in_any_case():
    assert redacted([("authorization", "Basic x"), ("X-Other", "kept")]) == {
        "authorization": REDACTED,
        "X-Other": "kept",
    }


# --- payload formats: built once per event and format, signed as sent --------------------------


def _delivery(event, **webhook_fields):
    webhook = WebhookFactory.build(secret=SECRET, **webhook_fields)
    return DeliveryFactory.build(id=uuid.uuid4(), event=event, webhook=webhook)


def test_a_batch_builds_each_events_body_once_per_format(monkeypatch):
    # given one event going to two webhooks of each of two formats
    event = _event()
    deliveries = [
        _delivery(event, payload_format=fmt)
        for fmt in (PayloadFormat.STANDARD, PayloadFormat.NUTANIX) * 2
    ]
    built = []
    real = request_module.body_build
    monkeypatch.setattr(request_module, "body_build", lambda e, f: built.append(f) or real(e, f))
    bodies: Bodies = {}

    # when
    requests = [delivery_request(d, timestamp=1, bodies=bodies) for d in deliveries]

    # then each format's body was built once, and every webhook got its format's bytes
    assert built == [PayloadFormat.STANDARD, PayloadFormat.NUTANIX]
    assert requests[0].body == requests[2].body == event_body(event)
    assert requests[1].body == requests[3].body == nutanix.body(event)


def test_tencent_bodies_differ_by_the_delivery_id_only():
    event = _event(data={"alarmStatus": 1})
    bodies: Bodies = {}
    first, second = (_delivery(event, payload_format=PayloadFormat.TENCENT) for _ in range(2))

    one = delivery_request(first, timestamp=1, bodies=bodies).body
    two = delivery_request(second, timestamp=1, bodies=bodies).body

    assert one == f'{{"sessionId":"{first.id}","alarmStatus":1}}'.encode()
    assert two == f'{{"sessionId":"{second.id}","alarmStatus":1}}'.encode()
    assert len(bodies) == 1


@pytest.mark.parametrize("fmt", PayloadFormat.values)
def test_the_signature_headers_follow_the_header_style_and_sign_the_bytes_sent(fmt):
    event = _event(data={"alarmStatus": 1})
    standard = _delivery(event, payload_format=fmt, header_style=HeaderStyle.STANDARD)
    cloudstack = _delivery(event, payload_format=fmt, header_style=HeaderStyle.CLOUDSTACK)

    sent = delivery_request(standard, timestamp=1714564800)
    sent_cs = delivery_request(cloudstack, timestamp=1714564800)

    headers = dict(sent.headers)
    assert headers["webhook-signature"] == standard_signature(
        secret=SECRET, msg_id=str(EVENT_ID), timestamp=1714564800, body=sent.body
    )
    assert dict(sent_cs.headers)["X-CS-Signature"] == _hmac_b64(SECRET.encode(), sent_cs.body)
    assert dict(sent_cs.headers)["X-CS-Event"] == "VM.CREATE"


# --- session id (acknowledgement rules) and alarm repeats ---------------------------------


DELIVERY_ID = uuid.UUID("01890a5d-ac96-7c00-8000-0000000000d1")


def _request(webhook, *, repeat: int = 0, event=None):
    from deliveries.models import Delivery
    from deliveries.pipeline.request import delivery_request

    event = event or _event()
    delivery = Delivery(id=DELIVERY_ID, event=event, webhook=webhook, repeat=repeat)
    return dict(delivery_request(delivery, timestamp=int(NOW.timestamp())).headers)


def test_a_webhook_that_wants_the_session_id_echoed_gets_it_in_a_header():
    webhook = WebhookFactory.build(ack_field="retCode", ack_value=0, ack_session_field="sessionId")
    assert _request(webhook)["X-Webhook-Session-Id"] == str(DELIVERY_ID)


def test_no_session_header_without_an_echo_rule():
    assert "X-Webhook-Session-Id" not in _request(WebhookFactory.build(ack_field="retCode"))


def test_an_alarm_repeat_is_a_new_message_signed_as_such():
    webhook = WebhookFactory.build(secret=SECRET)
    event = _event()
    first, repeat = _request(webhook, event=event), _request(webhook, repeat=2, event=event)
    assert first["webhook-id"] == str(EVENT_ID)
    assert repeat["webhook-id"] == f"{EVENT_ID}.r2"
    body = event_body(event)
    expected = standard_signature(
        secret=SECRET, msg_id=f"{EVENT_ID}.r2", timestamp=int(NOW.timestamp()), body=body
    )
    assert repeat["webhook-signature"] == expected
    cloudstack = WebhookFactory.build(header_style=HeaderStyle.CLOUDSTACK)
    assert _request(cloudstack, repeat=1)["X-CS-Event-ID"] == f"{EVENT_ID}.r1"
