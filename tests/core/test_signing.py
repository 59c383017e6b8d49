"""Signatures: pure functions of (secret, id, timestamp, body), so each value is
pinned exactly; the Standard Webhooks library itself checks that receivers
written against it accept what we sign.
"""

import base64
import datetime as dt
import hashlib
import hmac

import pytest
import time_machine
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from core.signing import cloudstack_signature, secret_key, standard_signature

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


# The Standard Webhooks specification's own test vector.
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'


NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def _hmac_b64(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


# --- standard_signature -----------------------------------------------------------------------


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


# --- cloudstack_signature ---------------------------------------------------------------------


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
