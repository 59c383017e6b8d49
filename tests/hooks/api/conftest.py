"""What the next request of a webhook is signed with, as a receiver checks it."""

import time

from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from deliveries.pipeline.request import delivery_headers, event_body
from hooks.models import Webhook
from tests.factories import EventFactory


def built_headers(webhook, *, event=None, timestamp=None) -> tuple[bytes, list[tuple[str, str]]]:
    """The body and headers the next delivery of `event` to `webhook` is sent with."""
    webhook = Webhook.objects.get(pk=webhook.pk)  # as a worker would read it: fresh
    event = event or EventFactory.build(account=webhook.account, occurred_at=timezone.now())
    body = event_body(event)
    timestamp = int(time.time()) if timestamp is None else timestamp
    return body, delivery_headers(webhook=webhook, event=event, body=body, timestamp=timestamp)


def verifies(secret: str, body: bytes, headers) -> bool:
    """Whether a Standard Webhooks receiver holding `secret` accepts the request."""
    try:
        StandardWebhook(secret).verify(body, dict(headers))
    except WebhookVerificationError:
        return False
    return True


def with_signature(headers, signature: str) -> dict[str, str]:
    return dict(headers) | {"webhook-signature": signature}
