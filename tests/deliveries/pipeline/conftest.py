"""Deliveries due at NOW, for the claim and record tests."""

import datetime as dt

from tests.factories import DeliveryFactory, EventFactory, WebhookFactory

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def due(n=1, **kwargs):
    event = EventFactory()
    return [
        DeliveryFactory(event=event, webhook=WebhookFactory(), next_attempt_at=NOW, **kwargs)
        for _ in range(n)
    ]
