"""The operator's tools on webhooks (console.webhook_tools): list actions,
the test button, rotating the secret."""

import datetime as dt
import re

from django.urls import reverse
from django.utils import timezone

from deliveries.models import Delivery, DeliveryStatus
from hooks.models import Webhook
from tests.console.kit import WEBHOOKS, change_url, deliveries, text


def test_enable_and_disable_actions(root, hooks):
    ids = [str(hooks["east"].pk), str(hooks["west"].pk)]
    response = root.post(WEBHOOKS, {"action": "disable", "_selected_action": ids}, follow=True)
    assert "Disabled 2 webhooks." in text(response)
    assert not Webhook.objects.filter(pk__in=ids, enabled=True).exists()
    assert Webhook.objects.get(pk=hooks["east_sub"].pk).enabled
    root.post(WEBHOOKS, {"action": "enable", "_selected_action": ids[:1]})
    assert Webhook.objects.get(pk=ids[0]).enabled and not Webhook.objects.get(pk=ids[1]).enabled


def test_send_test_delivery_action_reports_each_result(root, hooks, receivers, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = True
    ok, failing = receivers(), receivers(responder=lambda r: (503, b"down"))
    Webhook.objects.filter(pk=hooks["east"].pk).update(payload_url=ok.url)
    Webhook.objects.filter(pk=hooks["west"].pk).update(payload_url=failing.url)
    response = root.post(
        WEBHOOKS,
        {"action": "send_test_delivery", "_selected_action": [hooks["east"].pk, hooks["west"].pk]},
        follow=True,
    )
    page = text(response)
    assert re.search(r"Test delivery to “east-hook”: HTTP 200 in \d+ ms", page)
    assert "Test delivery to “west-hook” failed: HTTP 503" in page
    assert ok.wait_for(1)[0].json["type"] == "TEST"
    assert not Delivery.objects.exists()  # a test is not recorded


def test_redeliver_failed_of_the_last_24h_queues_only_those(
    root, hooks, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr("deliveries.queue.deliveries_enqueue", lambda ids, **kw: queued.extend(ids))
    recent = deliveries(hooks["east"], failed=2, succeeded=1)
    old = deliveries(hooks["east"], failed=1, created_at=timezone.now() - dt.timedelta(hours=30))
    other = deliveries(hooks["west"], failed=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = root.post(
            WEBHOOKS,
            {"action": "redeliver_failed", "_selected_action": [hooks["east"].pk]},
            follow=True,
        )
    assert "Queued 2 failed deliveries of the last 24 h" in text(response)
    failed_recent = {d.pk for d in recent if d.status == DeliveryStatus.FAILED}
    pending = Delivery.objects.filter(status=DeliveryStatus.PENDING)
    assert set(pending.values_list("pk", flat=True)) == failed_recent
    assert set(queued) == failed_recent  # the workers are woken for exactly those
    assert Delivery.objects.get(pk=old[0].pk).status == DeliveryStatus.FAILED
    assert Delivery.objects.get(pk=other[0].pk).status == DeliveryStatus.FAILED


def test_rotating_the_secret_asks_then_shows_the_new_one_once(root, hooks):
    webhook = hooks["east"]
    url = reverse("admin:hooks_webhook_rotate_secret", args=[webhook.pk])
    confirm = root.get(url)
    assert "Give “east-hook” a new signing secret?" in text(confirm)
    old = webhook.secret
    response = root.post(url)
    webhook.refresh_from_db()
    assert webhook.secret != old and webhook.previous_secret == old
    assert webhook.secret in text(response)
    assert webhook.secret not in text(root.get(change_url(webhook)))


def test_the_test_button_on_the_webhook_page_sends_and_reports(root, hooks, receivers, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = True
    receiver = receivers()
    Webhook.objects.filter(pk=hooks["east"].pk).update(payload_url=receiver.url)
    url = reverse("admin:hooks_webhook_test", args=[hooks["east"].pk])
    assert root.get(url).status_code == 405
    response = root.post(url, follow=True)
    assert re.search(r"Test delivery to “east-hook”: HTTP 200", text(response))
    assert len(receiver.wait_for(1)) == 1


def test_the_test_button_takes_overrides_for_this_send_only(root, hooks, receivers, settings):
    from tests.factories import NEW_SECRET

    settings.WEBHOOK_ALLOW_PRIVATE_IPS = True
    usual, other = receivers(), receivers(secret=NEW_SECRET)
    Webhook.objects.filter(pk=hooks["east"].pk).update(payload_url=usual.url)
    url = reverse("admin:hooks_webhook_test", args=[hooks["east"].pk])
    assert "test-with-overrides" in text(root.get(change_url(hooks["east"])))

    response = root.post(
        url,
        {"payload_url": other.url + "/x", "secret": NEW_SECRET, "ssl_verification": "off"},
        follow=True,
    )

    assert re.search(rf"Test delivery to “east-hook” at {other.url}/x: HTTP 200", text(response))
    [received] = other.wait_for(1)
    assert received.signature == "valid"
    assert usual.received == []
    assert Webhook.objects.get(pk=hooks["east"].pk).payload_url == usual.url
    assert not Delivery.objects.exists()


def test_bad_test_overrides_send_nothing_and_say_why(root, hooks, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = False
    url = reverse("admin:hooks_webhook_test", args=[hooks["east"].pk])

    response = root.post(url, {"payload_url": "http://10.0.0.1/", "secret": "nope"}, follow=True)

    page = text(response)
    assert "Test not sent: payload_url:" in page and "secret:" in page
