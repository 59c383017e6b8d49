"""The request for one attempt: body (in the webhook's payload format,
deliveries/formats), headers (signed, in the webhook's header style, whatever
the format), redaction for the record, timeout."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Iterable

from django.conf import settings

from core.signing import cloudstack_signature, standard_signature
from deliveries.formats import Body, body_build, envelope
from deliveries.http import OutgoingRequest
from deliveries.models import Delivery, Event
from hooks.acks import SESSION_HEADER
from hooks.models import HeaderStyle, Webhook

REDACTED = "[redacted]"
_SECRET_HEADERS = {"authorization"}


def event_body(event: Event) -> bytes:
    """Our envelope's exact bytes (the standard payload format)."""
    return envelope.body(event)


# One batch's bodies, by event and payload format: one event goes to many
# webhooks, most of them with the same bytes.
Bodies = dict[tuple[uuid.UUID, str], Body]


def delivery_headers(
    *, webhook: Webhook, event: Event, body: bytes, timestamp: int, msg_id: str | None = None
) -> list[tuple[str, str]]:
    """Headers for one attempt, in the webhook's chosen style.

    `msg_id` is the message id (Delivery.message_id; default the event id).
    While a rotated-out secret is still in its overlap window, Standard-style
    requests carry both signatures (space-separated, as the spec allows), so a
    receiver holding either secret verifies them.
    """
    msg_id = msg_id or str(event.id)
    secrets = webhook.signing_secrets(now=dt.datetime.fromtimestamp(timestamp, tz=dt.UTC))
    headers = [("Content-Type", "application/json")]
    if webhook.header_style == HeaderStyle.CLOUDSTACK:
        headers += [
            ("User-Agent", f"CS-Hookshot/{event.account_id or ''}"),
            ("X-CS-Event-ID", msg_id),
            ("X-CS-Event", event.type),
        ]
        if secrets:
            # One signature only: CloudStack receivers expect a single value.
            headers.append(("X-CS-Signature", cloudstack_signature(secret=secrets[0], body=body)))
    else:
        headers += [
            ("User-Agent", settings.WEBHOOK_USER_AGENT),
            ("webhook-id", msg_id),
            ("webhook-timestamp", str(timestamp)),
        ]
        if secrets:
            signatures = [
                standard_signature(secret=s, msg_id=msg_id, timestamp=timestamp, body=body)
                for s in secrets
            ]
            headers.append(("webhook-signature", " ".join(signatures)))
    if webhook.auth_username or webhook.auth_password:
        token = base64.b64encode(f"{webhook.auth_username}:{webhook.auth_password}".encode())
        headers.append(("Authorization", "Basic " + token.decode()))
    headers.extend(webhook.headers.items())
    return headers


def redacted(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as the attempt record keeps them: credentials replaced."""
    return {k: (REDACTED if k.lower() in _SECRET_HEADERS else v) for k, v in headers}


def attempt_timeout(webhook: Webhook) -> float:
    # Half the lease at most: a claim must outlive the slowest request in it.
    return min(webhook.effective_timeout, settings.WEBHOOK_LEASE_SECONDS / 2)


def delivery_request(
    delivery: Delivery, *, timestamp: int, bodies: Bodies | None = None
) -> OutgoingRequest:
    """The request for one attempt of a delivery (bodies: a per-batch cache,
    since one event goes to many webhooks with the same bytes)."""
    event, webhook = delivery.event, delivery.webhook
    key = (event.id, webhook.payload_format)
    built = bodies.get(key) if bodies is not None else None
    if built is None:
        built = body_build(event, webhook.payload_format)
        if bodies is not None:
            bodies[key] = built
    body = built.for_delivery(delivery.id)
    headers = delivery_headers(
        webhook=webhook, event=event, body=body, timestamp=timestamp, msg_id=delivery.message_id
    )
    if webhook.ack_session_field:
        # The session id the receiver must echo (hooks/acks.py), the same on
        # every attempt of this delivery.
        headers.append((SESSION_HEADER, str(delivery.id)))
    return OutgoingRequest(
        url=webhook.payload_url,
        headers=headers,
        body=body,
        timeout=attempt_timeout(webhook),
        connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT,
        verify_tls=webhook.ssl_verification,
        key=delivery.id,
    )
