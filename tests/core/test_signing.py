"""Signatures, request headers and signing secrets.

Signing is a pure function of (secret, id, timestamp, body), so each value is
pinned exactly; the Standard Webhooks library itself checks that receivers
written against it accept what we send.
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
from django.core.exceptions import ValidationError
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from deliveries.services import REDACTED, delivery_headers, event_body, redacted
from deliveries.signing import cloudstack_signature, secret_key, standard_signature
from hooks.models import HeaderStyle
from hooks.services import check_secret, generate_secret
from tests.factories import AccountFactory, EventFactory, WebhookFactory

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# The Standard Webhooks specification's own test vector.
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
EVENT_ID = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")
ACCOUNT_ID = uuid.UUID("01890a5d-ac96-7c00-8000-000000000001")


def _hmac_b64(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


# --- standard_signature --------------------------------------------------------


def test_standard_signature_matches_an_independent_computation():
    # given the key is the base64 after "whsec_", and the signed content "id.timestamp.body"
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = "v1," + _hmac_b64(key, f"{MSG_ID}.{TIMESTAMP}.".encode() + BODY)

    # when
    signature = standard_signature(secret=SECRET, msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY)

    # then
    assert signature == expected


def test_standard_signature_is_pinned():
    signature = standard_signature(secret=SECRET, msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY)

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    "change",
    [
        {"msg_id": "msg_other"},
        {"timestamp": TIMESTAMP + 1},
        {"body": BODY + b" "},
        {"secret": "whsec_" + base64.b64encode(b"\x00" * 24).decode()},
    ],
    ids=["id", "timestamp", "body", "secret"],
)
def test_standard_signature_depends_on_every_input(change):
    inputs = {"secret": SECRET, "msg_id": MSG_ID, "timestamp": TIMESTAMP, "body": BODY}

    changed = standard_signature(**{**inputs, **change})

    assert changed != standard_signature(**inputs)


@time_machine.travel(NOW, tick=False)
def test_the_standard_webhooks_library_verifies_our_signature():
    # given a request signed now
    timestamp = int(NOW.timestamp())
    signature = standard_signature(secret=SECRET, msg_id=MSG_ID, timestamp=timestamp, body=BODY)
    headers = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }

    # when the reference implementation checks it, then it accepts it
    assert StandardWebhook(SECRET).verify(BODY, headers) == {"test": 2432232314}


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body.replace(b"2432232314", b"2432232315"), headers),
        lambda body, headers: (body, {**headers, "webhook-id": "msg_other"}),
        lambda body, headers: (
            body,
            {**headers, "webhook-timestamp": str(int(NOW.timestamp()) - 1)},
        ),
    ],
    ids=["body", "id", "timestamp"],
)
def test_the_standard_webhooks_library_rejects_a_tampered_request(tamper):
    timestamp = int(NOW.timestamp())
    signature = standard_signature(secret=SECRET, msg_id=MSG_ID, timestamp=timestamp, body=BODY)
    headers = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }

    body, headers = tamper(BODY, headers)

    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        StandardWebhook(SECRET).verify(body, headers)


def test_a_secret_without_the_whsec_prefix_is_used_as_raw_bytes():
    # given a secret typed by hand
    secret = "my-hand-written-secret"

    # when
    signature = standard_signature(secret=secret, msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY)

    # then the key is the string's own bytes, not a base64 decoding of it
    assert secret_key(secret) == b"my-hand-written-secret"
    assert signature == "v1," + _hmac_b64(
        b"my-hand-written-secret", f"{MSG_ID}.{TIMESTAMP}.".encode() + BODY
    )
    assert signature == "v1,cWZ3SMMm3xcEjL5lhde66HfaF708VVA7/S4En3sv5Rk="


def test_a_whsec_secret_is_keyed_with_its_decoded_bytes():
    assert secret_key(SECRET) == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert len(secret_key(SECRET)) == 24


# --- cloudstack_signature -------------------------------------------------------


def test_cloudstack_signature_is_keyed_with_the_whole_secret_string():
    # given CloudStack keys the HMAC with the secret as typed, prefix included
    expected = _hmac_b64(SECRET.encode(), BODY)

    # when
    signature = cloudstack_signature(secret=SECRET, body=BODY)

    # then
    assert signature == expected
    assert signature == "gOyKic480iEzoQZsrstNBP6nRnZXyFFNcX7ELDilyUw="
    # and not with the decoded key the standard style uses
    assert signature != _hmac_b64(secret_key(SECRET), BODY)


# --- delivery_headers -----------------------------------------------------------


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
            f'"domain":"{event.domain_id}","resource":null,"data":{{"name":"vérifié","n":1}}}}'
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


# --- generate_secret / check_secret ----------------------------------------------


def _secret_of(n: int) -> str:
    return "whsec_" + base64.b64encode(bytes(range(n))).decode()


def test_generated_secrets_are_whsec_base64_of_24_random_bytes():
    first, second = generate_secret(), generate_secret()

    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 24
    assert first != second
    check_secret(first)


@pytest.mark.parametrize("size", [24, 32, 48, 64])
def test_check_secret_accepts_24_to_64_bytes(size):
    check_secret(_secret_of(size))


@pytest.mark.parametrize("size", [23, 65])
def test_check_secret_refuses_sizes_outside_24_to_64(size):
    with pytest.raises(ValidationError, match=f"24 to 64 bytes; it encodes {size}"):
        check_secret(_secret_of(size))


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("whsec_abc", "valid base64"),  # bad padding
        ("whsec_ab=c" + "A" * 32, "followed by base64"),
        ("whsec_" + "A" * 32 + "!", "followed by base64"),
        ("whsec_", "followed by base64"),
        (_secret_of(32).removeprefix("whsec_"), "followed by base64"),  # missing prefix
        ("WHSEC_" + _secret_of(32).removeprefix("whsec_"), "followed by base64"),
    ],
    ids=["bad-padding", "inner-padding", "bad-character", "empty", "no-prefix", "upper-prefix"],
)
def test_check_secret_refuses_malformed_secrets(secret, message):
    with pytest.raises(ValidationError, match=message):
        check_secret(secret)
