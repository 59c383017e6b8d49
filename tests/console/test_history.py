"""The history pages (console.history): deliveries, their attempts, events."""

import re

from django.urls import reverse

from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from hooks.models import Webhook
from tests.console.kit import DELIVERIES, change_url, deliveries, text
from tests.factories import DeliveryAttemptFactory, DeliveryFactory, EventFactory


def test_the_delivery_list_shows_status_webhook_type_attempts_code_and_duration(root, hooks):
    [delivery] = deliveries(hooks["east"], failed=1)
    DeliveryAttemptFactory(delivery=delivery, number=1, duration_ms=17, response_status=500)
    DeliveryAttemptFactory(delivery=delivery, number=2, duration_ms=23, response_status=500)
    page = text(root.get(DELIVERIES))
    assert "status-failed" in page and "east-hook" in page and "VM.CREATE" in page
    assert "23 ms" in page and "17 ms" not in page  # the last attempt's duration


def test_searching_deliveries_by_event_id(root, hooks):
    target, _other = deliveries(hooks["east"], succeeded=2)
    response = root.get(f"{DELIVERIES}?q={target.event_id}")
    assert [d.pk for d in response.context["cl"].result_list] == [target.pk]
    # not an id: a keyword search, which finds nothing here
    response = root.get(f"{DELIVERIES}?q=not-an-id", follow=True)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_searching_deliveries_by_words_and_filtering_by_worker(root, hooks):
    timed_out, answered = deliveries(hooks["east"], failed=2)
    Delivery.objects.filter(pk=timed_out.pk).update(last_error="Timeout after 10 s")
    DeliveryAttemptFactory(delivery=timed_out, number=1, worker="node-a:11")
    DeliveryAttemptFactory(delivery=answered, number=1, worker="node-b:22")

    def listed(query):
        response = root.get(f"{DELIVERIES}?{query}", follow=True)
        assert response.status_code == 200
        return [d.pk for d in response.context["cl"].result_list]

    assert listed("q=timeout") == [timed_out.pk]
    assert set(listed("q=VM.CREATE")) == {timed_out.pk, answered.pk}
    assert listed("worker=node-b:22") == [answered.pk]
    assert listed("worker=node-a") == [timed_out.pk]
    assert listed("worker=node-c") == []
    too_many = root.get(f"{DELIVERIES}?q=a b c d e f", follow=True)
    assert "At most 5 words" in text(too_many)


def test_the_delivery_page_shows_every_attempt(root, hooks):
    [delivery] = deliveries(hooks["east"], failed=1)
    DeliveryAttemptFactory(
        delivery=delivery,
        number=1,
        duration_ms=12,
        response_status=500,
        request_headers={"Authorization": "[redacted]", "webhook-id": str(delivery.event_id)},
        response_headers={"X-Reason": "maintenance"},
        response_body=b"try later",
        worker="node-a:4242",
    )
    DeliveryAttemptFactory(
        delivery=delivery,
        number=2,
        response_status=None,
        error_class="Timeout",
        error_message="no answer within 10 s",
    )
    page = text(root.get(change_url(delivery)))
    assert "Attempts (2)" in page
    assert "Attempt 1 — " in page and "HTTP 500" in page and "try later" in page
    assert "maintenance" in page and "[redacted]" in page
    assert "Timeout: no answer within 10 s" in page
    assert '"type": "VM.CREATE"' in page  # the envelope sent
    assert 'sent by <span class="attempt-worker">node-a:4242</span>' in page
    assert '<span class="attempt-worker">no worker (the claim expired)</span>' in page


def test_redeliver_from_the_delivery_page_sends_now_and_records(root, hooks, receivers, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = True
    receiver = receivers()
    Webhook.objects.filter(pk=hooks["east"].pk).update(payload_url=receiver.url)
    [delivery] = deliveries(hooks["east"], failed=1)
    url = reverse("admin:deliveries_delivery_redeliver", args=[delivery.pk])
    response = root.post(url, follow=True)
    assert re.search(r"Attempt 2: HTTP 200 in \d+ ms; the delivery is succeeded", text(response))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)
    assert DeliveryAttempt.objects.filter(delivery=delivery, number=2, response_status=200).exists()
    assert receiver.wait_for(1)[0].headers["webhook-id"] == str(delivery.event_id)


def test_the_redeliver_action_queues_for_the_workers(
    root, hooks, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr("deliveries.queue.deliveries_enqueue", lambda ids, **kw: queued.extend(ids))
    done, failed = deliveries(hooks["east"], succeeded=1, failed=1)
    [busy] = deliveries(hooks["east"], pending=1)
    Delivery.objects.filter(pk=busy.pk).update(status=DeliveryStatus.SENDING)
    with django_capture_on_commit_callbacks(execute=True):
        response = root.post(
            DELIVERIES,
            {"action": "redeliver", "_selected_action": [done.pk, failed.pk, busy.pk]},
            follow=True,
        )
    assert "Queued 2 deliveries for another attempt. 1 being sent right now were left alone." in (
        text(response)
    )
    assert set(queued) == {done.pk, failed.pk}
    assert Delivery.objects.get(pk=busy.pk).status == DeliveryStatus.SENDING
    assert Delivery.objects.get(pk=failed.pk).status == DeliveryStatus.PENDING


def test_deleting_deliveries_leaves_the_ones_being_sent(root, hooks):
    done, busy = deliveries(hooks["east"], succeeded=2)
    Delivery.objects.filter(pk=busy.pk).update(status=DeliveryStatus.SENDING)
    root.post(
        DELIVERIES,
        {"action": "delete_selected", "_selected_action": [done.pk, busy.pk], "post": "yes"},
    )
    assert list(Delivery.objects.values_list("pk", flat=True)) == [busy.pk]


def test_the_event_page_shows_the_envelope_and_its_deliveries(root, hooks):
    event = EventFactory(account=hooks["east"].account, data={"vm": "web-1"})
    DeliveryFactory(event=event, webhook=hooks["east"], status=DeliveryStatus.SUCCEEDED)
    DeliveryFactory(event=event, webhook=hooks["west"], status=DeliveryStatus.FAILED)
    page = text(root.get(change_url(event)))
    assert '"vm": "web-1"' in page and f'"id": "{event.pk}"' in page
    assert "east-hook" in page and "west-hook" in page


def test_a_domain_admins_event_page_shows_only_their_deliveries(east_admin, hooks):
    event = EventFactory(account=hooks["east"].account)
    DeliveryFactory(event=event, webhook=hooks["east"])
    DeliveryFactory(event=event, webhook=hooks["west"])
    page = text(east_admin.get(change_url(event)))
    assert "east-hook" in page and "west-hook" not in page


def test_the_event_delete_page_counts_the_deliveries_that_go_with_it(root, hooks):
    event = EventFactory(account=hooks["east"].account)
    DeliveryFactory(event=event, webhook=hooks["east"])
    DeliveryFactory(event=event, webhook=hooks["west"])
    page = text(root.get(reverse("admin:deliveries_event_delete", args=[event.pk])))
    assert "Deliveries (with their attempts): 2" in page


def test_the_event_list_and_page_show_who_acted(root, hooks):
    event = EventFactory(
        account=hooks["east"].account, actor_id="u-1", actor_name="alice@example.com"
    )
    EventFactory(account=hooks["east"].account, type="VM.OTHER")

    listing = text(root.get(reverse("admin:deliveries_event_changelist")))
    page = text(root.get(change_url(event)))

    assert "alice@example.com" in listing
    assert '"actor": {' in page and '"name": "alice@example.com"' in page


def test_the_delivery_page_shows_the_body_in_the_webhooks_payload_format(root, hooks):
    Webhook.objects.filter(pk=hooks["east"].pk).update(payload_format="nutanix")
    [delivery] = deliveries(hooks["east"], failed=1)

    page = text(root.get(change_url(delivery)))

    assert "Body sent (Nutanix v3 notification)" in page
    assert '"version": "1.0"' in page and '"event_type": "VM.CREATE"' in page


def test_the_event_list_and_page_show_an_alarms_incident(root, hooks):
    from tests.console.kit import EVENTS

    event = EventFactory(
        account=hooks["east"].account, incident_key="policy-1/ins-1", incident_state="resolved"
    )
    EventFactory(account=hooks["east"].account)
    page = text(root.get(EVENTS))
    assert "policy-1/ins-1 (resolved)" in page
    detail = text(root.get(change_url(event)))
    assert '"incident": {' in detail and '"state": "resolved"' in detail


def test_the_delivery_page_shows_a_repeat_and_a_missing_acknowledgement(root, hooks):
    [delivery] = deliveries(hooks["east"], failed=1)
    Delivery.objects.filter(pk=delivery.pk).update(repeat=2)
    DeliveryAttemptFactory(
        delivery=delivery,
        number=1,
        response_status=200,
        response_body=b'{"retCode": 1}',
        error_class="NoAcknowledgement",
        error_message="no acknowledgement: retCode was 1, not 0",
    )
    page = text(root.get(change_url(delivery)))
    assert "NoAcknowledgement (HTTP 200)" in page
    assert "no acknowledgement: retCode was 1, not 0" in page
    assert '<label>Repeat:</label> <div class="readonly">2</div>' in page


def test_an_empty_filtered_list_says_how_to_clear_the_filters(root, hooks):
    deliveries(hooks["east"], succeeded=1)
    page = text(root.get(f"{DELIVERIES}?status__exact=failed"))
    assert "No deliveries match these filters." in page
    assert "Clear the filters" in page and "0 deliveries" in page
    page = text(root.get(DELIVERIES))
    assert "No deliveries match" not in page and "1 delivery" in page and "1 deliveries" not in page


def test_the_delivery_page_is_titled_by_event_type_webhook_and_status(root, hooks):
    [delivery] = deliveries(hooks["east"], failed=1)
    response = root.get(change_url(delivery))
    assert response.context["subtitle"] == "VM.CREATE → east-hook (failed)"
    assert str(delivery.pk) not in text(response).split("<h2>")[1].split("</h2>")[0]


def test_event_ids_are_shown_short_and_kept_whole(root, hooks):
    [delivery] = deliveries(hooks["east"], succeeded=1)
    full = str(delivery.event_id)
    page = text(root.get(reverse("admin:deliveries_event_changelist")))
    assert (
        f'<span class="short-id" title="{full}">{full[:8]}<span class="id-rest">{full[8:]}' in page
    )
