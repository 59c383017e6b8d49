"""What the console's tests share besides fixtures (tests/console/conftest.py):
the list URLs, making deliveries of each outcome, reading a page as text,
and the webhook form's data."""

import html
import re

from django.urls import reverse
from django.utils import timezone

from deliveries.models import Delivery, DeliveryStatus
from hooks.models import Scope
from tests.factories import DeliveryFactory, EventFactory

WEBHOOKS = reverse("admin:hooks_webhook_changelist")
DELIVERIES = reverse("admin:deliveries_delivery_changelist")
EVENTS = reverse("admin:deliveries_event_changelist")


def change_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def deliveries(webhook, *, succeeded=0, failed=0, pending=0, created_at=None):
    made = []
    for status, n in (
        (DeliveryStatus.SUCCEEDED, succeeded),
        (DeliveryStatus.FAILED, failed),
        (DeliveryStatus.PENDING, pending),
    ):
        for _ in range(n):
            finished = timezone.now() if status != DeliveryStatus.PENDING else None
            delivery = DeliveryFactory(
                webhook=webhook,
                event=EventFactory(account=webhook.account),
                status=status,
                finished_at=finished,
                attempts=1,
                last_status_code=200 if status == DeliveryStatus.SUCCEEDED else 500,
            )
            made.append(delivery)
    if created_at is not None:
        Delivery.objects.filter(pk__in=[d.pk for d in made]).update(created_at=created_at)
    return made


def text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.content.decode()))


def form_data(tenants, **overrides):
    data = {
        "name": "new-hook",
        "description": "",
        "enabled": "on",
        "scope": Scope.LOCAL,
        "account": tenants["east_acct"].pk,
        "domain": "",
        "payload_url": "https://receiver.example.com/hook",
        "event_types": "VM.*\nVOLUME.CREATE, ",
        "ssl_verification": "on",
        "header_style": "standard",
        "payload_format": "standard",
        "headers": "{}",
        "auth_username": "",
        "new_auth_password": "",
        "timeout": "",
        "max_attempts": "",
        "max_in_flight": "",
        "call_methods": "",
        "call_phase": "both",
        "ack_field": "",
        "ack_value": "",
        "ack_session_field": "",
        "repeat_every": "",
        "repeat_max": "",
    }
    data.update(overrides)
    return data
