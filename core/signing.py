"""Request signatures: pure functions of their inputs, so tests can pin them."""

from __future__ import annotations

import base64
import hashlib
import hmac

# Standard Webhooks' prefix for a generated secret: what follows it is base64 of the key.
SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key a secret stands for: base64-decoded after whsec_ (Standard
    Webhooks), or the string's own bytes for a secret written by hand."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :])
    return secret.encode()


def standard_signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature` value: v1,<base64 HMAC-SHA256 of "id.timestamp.body">."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def cloudstack_signature(*, secret: str, body: bytes) -> str:
    """`X-CS-Signature` value: base64 HMAC-SHA256 of the body.

    CloudStack keys the HMAC with the secret string as typed, so a receiver
    written for CloudStack verifies with the whole secret, prefix included.
    """
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
