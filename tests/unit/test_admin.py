"""The operations console (Django admin), through Django's test client: what
each page shows, what each action does, and that a staff domain admin sees
and acts on their subtree only. The browser walk-through is in tests/browser.
"""

import datetime as dt
import html
import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deliveries.admin import CappedPaginator
from deliveries.charts import activity_svg
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from deliveries.selectors import (
    Bucket,
    Health,
    WindowCounts,
    webhook_activity,
    webhook_health,
    webhooks_in_health,
    webhooks_with_last_outcome,
)
from hooks.models import Role, Scope, Webhook
from tests.factories import (
    DeliveryAttemptFactory,
    DeliveryFactory,
    EventFactory,
    MembershipFactory,
    UserFactory,
    WebhookFactory,
)

WEBHOOKS = reverse("admin:hooks_webhook_changelist")
DELIVERIES = reverse("admin:deliveries_delivery_changelist")
EVENTS = reverse("admin:deliveries_event_changelist")


def change_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


@pytest.fixture
def root(client, db):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.fixture
def east_admin(client, tenants):
    """A staff login that is a domain admin of `east` (which holds east-sub)."""
    user = UserFactory(username="east-admin", is_staff=True)
    MembershipFactory(user=user, account=tenants["east_acct"], role=Role.DOMAIN_ADMIN)
    client.force_login(user)
    return client


@pytest.fixture
def hooks(tenants):
    return {
        "east": WebhookFactory(name="east-hook", account=tenants["east_acct"]),
        "east_sub": WebhookFactory(name="east-sub-hook", account=tenants["east_sub_acct"]),
        "west": WebhookFactory(name="west-hook", account=tenants["west_acct"]),
    }


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


# --- health -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "succeeded, failed, expected",
    [
        (0, 0, Health.IDLE),
        (19, 1, Health.HEALTHY),
        (18, 2, Health.DEGRADED),
        (1, 1, Health.DEGRADED),
        (1, 2, Health.FAILING),
        (0, 3, Health.FAILING),
    ],
)
def test_health_of_a_webhook_follows_its_success_rate(succeeded, failed, expected):
    assert Health.of(succeeded, failed) == expected


def test_the_health_filter_agrees_with_the_health_shown(tenants):
    """Given webhooks at each health, when filtered, then each is where `of` puts it."""
    made = {
        Health.HEALTHY: WebhookFactory(account=tenants["east_acct"]),
        Health.DEGRADED: WebhookFactory(account=tenants["east_acct"]),
        Health.FAILING: WebhookFactory(account=tenants["east_acct"]),
        Health.IDLE: WebhookFactory(account=tenants["east_acct"]),
    }
    deliveries(made[Health.HEALTHY], succeeded=20)
    deliveries(made[Health.DEGRADED], succeeded=3, failed=1)
    deliveries(made[Health.FAILING], succeeded=1, failed=3, pending=2)
    deliveries(made[Health.IDLE], pending=2)
    # Old outcomes are outside the window: this one stays idle.
    deliveries(made[Health.IDLE], failed=5, created_at=timezone.now() - dt.timedelta(hours=25))
    now = timezone.now()
    counts = webhook_health(None, now=now)
    for health, webhook in made.items():
        assert counts.get(webhook.pk, WindowCounts()).health == health
        chosen = webhooks_in_health(Webhook.objects.all(), health, now=now)
        assert list(chosen.values_list("pk", flat=True)) == [webhook.pk]
    assert counts[made[Health.FAILING].pk] == WindowCounts(total=6, succeeded=1, failed=3)
    last = webhooks_with_last_outcome(Webhook.objects.all())
    assert last.get(pk=made[Health.FAILING].pk).h_last_status in (
        DeliveryStatus.SUCCEEDED,
        DeliveryStatus.FAILED,
    )
    assert last.get(pk=made[Health.IDLE].pk).h_last_status == DeliveryStatus.FAILED
    assert webhook_health([made[Health.HEALTHY].pk], now=now).keys() == {made[Health.HEALTHY].pk}


# --- webhook list and actions ---------------------------------------------------------


def test_the_webhook_list_shows_owner_destination_and_health(root, hooks):
    deliveries(hooks["east"], succeeded=19, failed=1)
    deliveries(hooks["west"], failed=2)
    response = root.get(WEBHOOKS)
    assert response.status_code == 200
    page = text(response)
    assert "east-hook" in page and "east-acct (east)" in page and "127.0.0.1:9" in page
    assert "healthy</span> · 95 % ok · 20 deliveries" in page
    assert "failing</span> · 0 % ok · 2 deliveries" in page
    assert "idle</span> · no outcome · 0 deliveries" in page


@pytest.mark.parametrize(
    "query, expected",
    [
        ("health=failing", {"west-hook"}),
        ("health=healthy", {"east-hook"}),
        ("health=idle", {"east-sub-hook"}),
        ("scope=local&enabled__exact=1", {"east-hook", "east-sub-hook", "west-hook"}),
        ("q=east", {"east-hook", "east-sub-hook"}),
    ],
)
def test_the_webhook_list_filters(root, hooks, query, expected):
    deliveries(hooks["east"], succeeded=2)
    deliveries(hooks["west"], failed=2)
    response = root.get(f"{WEBHOOKS}?{query}")
    assert response.status_code == 200
    shown = {w.name for w in response.context["cl"].result_list}
    assert shown == expected


def test_the_owner_filters_list_only_what_the_actor_sees_and_filter(east_admin, hooks, tenants):
    response = east_admin.get(f"{WEBHOOKS}?account={tenants['east_sub_acct'].pk}")
    assert [w.name for w in response.context["cl"].result_list] == ["east-sub-hook"]
    page = text(response)
    assert "east-sub-acct" in page and "west-acct" not in page and ">west<" not in page


def test_enable_and_disable_actions(root, hooks):
    ids = [str(hooks["east"].pk), str(hooks["west"].pk)]
    response = root.post(WEBHOOKS, {"action": "disable", "_selected_action": ids}, follow=True)
    assert "Disabled 2 webhook(s)." in text(response)
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


# --- webhook form and page --------------------------------------------------------------


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
        "headers": "{}",
        "auth_username": "",
        "new_auth_password": "",
        "timeout": "",
        "max_attempts": "",
    }
    data.update(overrides)
    return data


def test_adding_a_webhook_shows_its_secret_once(root, tenants):
    response = root.post(reverse("admin:hooks_webhook_add"), form_data(tenants), follow=True)
    assert response.status_code == 200
    webhook = Webhook.objects.get(name="new-hook")
    assert webhook.event_types == ["VM.*", "VOLUME.CREATE"]
    assert webhook.domain == tenants["east"]  # from the account
    assert webhook.secret.startswith("whsec_")
    assert webhook.secret in text(response)
    again = root.get(change_url(webhook))
    assert webhook.secret not in text(again)
    assert "Set (shown only when created or rotated)." in text(again)


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"payload_url": "http://10.0.0.1/hook"}, "payload_url", "not allowed"),
        ({"payload_url": "ftp://example.com/"}, "payload_url", "http"),
        ({"event_types": "VM CREATE"}, "event_types", ""),
        ({"headers": '{"Host": "x"}'}, "headers", ""),
        ({"headers": "[1"}, "headers", ""),
        ({"timeout": "0.1"}, "timeout", ""),
        ({"max_attempts": "99"}, "max_attempts", ""),
        ({"name": ""}, "name", ""),
        ({"account": str(uuid.uuid4())}, "account", ""),
    ],
)
def test_a_bad_webhook_form_says_what_is_wrong_and_saves_nothing(
    root, tenants, overrides, field, message
):
    response = root.post(reverse("admin:hooks_webhook_add"), form_data(tenants, **overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not Webhook.objects.exists()


def test_the_listener_password_is_never_shown_and_kept_when_left_empty(root, tenants):
    data = form_data(tenants, auth_username="cs", new_auth_password="s3cret-pw")
    root.post(reverse("admin:hooks_webhook_add"), data)
    webhook = Webhook.objects.get(name="new-hook")
    assert webhook.auth_password == "s3cret-pw"
    page = root.get(change_url(webhook))
    assert "s3cret-pw" not in text(page)
    data = form_data(tenants, name="renamed", auth_username="cs")
    root.post(change_url(webhook), data)
    webhook.refresh_from_db()
    assert (webhook.name, webhook.auth_password) == ("renamed", "s3cret-pw")
    root.post(change_url(webhook), {**data, "clear_auth_password": "on"})
    webhook.refresh_from_db()
    assert webhook.auth_password == ""


def test_the_webhook_page_shows_activity_and_recent_deliveries(root, hooks):
    made = deliveries(hooks["east"], succeeded=3, failed=1)
    DeliveryAttemptFactory(delivery=made[0], number=1, duration_ms=42, response_status=200)
    response = root.get(change_url(hooks["east"]))
    page = text(response)
    assert response.status_code == 200
    assert "<svg" in page and 'class="activity-chart"' in page
    assert "3 succeeded, 1 failed, 4 in all" in page
    assert page.count(reverse("admin:deliveries_delivery_change", args=[made[0].pk])) == 1
    assert "Rotate secret" in page and "Send test delivery" in page


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


# --- deliveries and events ------------------------------------------------------------------


def test_the_delivery_list_shows_status_webhook_type_attempts_code_and_duration(root, hooks):
    [delivery] = deliveries(hooks["east"], failed=1)
    DeliveryAttemptFactory(delivery=delivery, number=1, duration_ms=17, response_status=500)
    DeliveryAttemptFactory(delivery=delivery, number=2, duration_ms=23, response_status=500)
    page = text(root.get(DELIVERIES))
    assert "status-failed" in page and "east-hook" in page and "VM.CREATE" in page
    assert "23 ms" in page and "17 ms" not in page  # the last attempt's duration


@pytest.mark.parametrize(
    "query, expected",
    [
        ("status__exact=failed", {"fail"}),
        ("event_type=VOLUME.DELETE", {"volume"}),
        ("event_type=VOLUME", set()),
        ("created_at__gte=2000-01-01%2000:00:00%2B00:00", {"ok", "fail", "volume", "west"}),
    ],
)
def test_the_delivery_list_filters(root, hooks, query, expected):
    made = {
        "ok": deliveries(hooks["east"], succeeded=1)[0],
        "fail": deliveries(hooks["east"], failed=1)[0],
        "west": deliveries(hooks["west"], succeeded=1)[0],
    }
    made["volume"] = DeliveryFactory(
        webhook=hooks["east_sub"], event=EventFactory(type="VOLUME.DELETE")
    )
    names = {v.pk: k for k, v in made.items()}
    response = root.get(f"{DELIVERIES}?{query}")
    assert response.status_code == 200
    assert {names[d.pk] for d in response.context["cl"].result_list} == expected


def test_the_delivery_list_filters_by_webhook(root, hooks):
    east = deliveries(hooks["east"], succeeded=2)
    deliveries(hooks["west"], succeeded=1)
    response = root.get(f"{DELIVERIES}?webhook={hooks['east'].pk}")
    assert {d.pk for d in response.context["cl"].result_list} == {d.pk for d in east}
    assert root.get(f"{DELIVERIES}?webhook=not-a-uuid").context["cl"].result_list.count() == 0


def test_searching_deliveries_by_event_id(root, hooks):
    target, _other = deliveries(hooks["east"], succeeded=2)
    response = root.get(f"{DELIVERIES}?q={target.event_id}")
    assert [d.pk for d in response.context["cl"].result_list] == [target.pk]
    response = root.get(f"{DELIVERIES}?q=not-an-id", follow=True)
    assert response.status_code == 200
    assert "is not one" in text(response)
    assert list(response.context["cl"].result_list) == []


def test_list_pages_never_count_the_whole_table(root, hooks, monkeypatch):
    """Given more rows than the cap, the count stops at the cap and says so."""
    monkeypatch.setattr(CappedPaginator, "CAP", 3)
    deliveries(hooks["east"], succeeded=5)
    for url in (DELIVERIES, EVENTS, f"{DELIVERIES}?status__exact=succeeded"):
        with CaptureQueriesContext(connection) as queries:
            response = root.get(url)
        assert response.status_code == 200
        counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
        assert counts, "the paginator counts, with a limit"
        assert all("LIMIT" in sql.upper() for sql in counts), counts
        assert "more than 3" in text(response)


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


def test_every_console_list_answers(root, hooks):
    deliveries(hooks["east"], succeeded=1)
    for name in (
        "hooks_domain",
        "hooks_account",
        "hooks_membership",
        "hooks_webhook",
        "deliveries_event",
        "deliveries_delivery",
        "deliveries_deliveryattempt",
        "django_celery_beat_periodictask",
    ):
        response = root.get(reverse(f"admin:{name}_changelist"))
        assert response.status_code == 200, name


def test_the_domain_list_draws_the_tree(root, tenants):
    page = text(root.get(reverse("admin:hooks_domain_changelist")))
    positions = [page.index(f"{name}</span>") for name in ("ROOT", "└ east", "└ east-sub")]
    assert positions == sorted(positions)


# --- tenancy -------------------------------------------------------------------------------


def test_a_domain_admin_sees_only_their_subtree(east_admin, hooks, tenants):
    east = deliveries(hooks["east_sub"], succeeded=1)
    deliveries(hooks["west"], succeeded=1)
    response = east_admin.get(WEBHOOKS)
    assert {w.name for w in response.context["cl"].result_list} == {"east-hook", "east-sub-hook"}
    response = east_admin.get(DELIVERIES)
    assert [d.pk for d in response.context["cl"].result_list] == [east[0].pk]
    domains = east_admin.get(reverse("admin:hooks_domain_changelist")).context["cl"].result_list
    assert {d.name for d in domains} == {"east", "east-sub"}
    for obj in (hooks["west"], tenants["west"], tenants["west_acct"]):
        response = east_admin.get(change_url(obj), follow=True)
        assert response.redirect_chain[-1][0] == reverse("admin:index")
        assert "doesn\u2019t exist" in text(response)


def test_a_domain_admin_cannot_reach_others_through_actions_or_urls(east_admin, hooks):
    [west_failed] = deliveries(hooks["west"], failed=1)
    east_admin.post(WEBHOOKS, {"action": "disable", "_selected_action": [hooks["west"].pk]})
    assert Webhook.objects.get(pk=hooks["west"].pk).enabled
    east_admin.post(
        DELIVERIES,
        {"action": "delete_selected", "_selected_action": [west_failed.pk], "post": "yes"},
    )
    assert Delivery.objects.filter(pk=west_failed.pk).exists()
    for name, args in (
        ("admin:hooks_webhook_rotate_secret", [hooks["west"].pk]),
        ("admin:hooks_webhook_test", [hooks["west"].pk]),
        ("admin:deliveries_delivery_redeliver", [west_failed.pk]),
    ):
        assert east_admin.post(reverse(name, args=args)).status_code == 404
    assert east_admin.get(reverse("admin:hooks_membership_changelist")).status_code == 403
    assert (
        east_admin.get(reverse("admin:django_celery_beat_periodictask_changelist")).status_code
        == 403
    )


def test_a_domain_admin_creates_webhooks_only_within_their_reach(east_admin, tenants):
    add = reverse("admin:hooks_webhook_add")
    page = text(east_admin.get(add))
    assert "east-sub-acct" in page and "west-acct" not in page
    response = east_admin.post(add, form_data(tenants, scope=Scope.GLOBAL))
    assert "Only root admins may have global webhooks." in " ".join(
        response.context["adminform"].form.errors["scope"]
    )
    response = east_admin.post(add, form_data(tenants, account=tenants["west_acct"].pk))
    assert "account" in response.context["adminform"].form.errors
    assert not Webhook.objects.exists()
    east_admin.post(
        add, form_data(tenants, scope=Scope.DOMAIN, account=tenants["east_sub_acct"].pk)
    )
    assert Webhook.objects.get(name="new-hook").domain == tenants["east_sub"]


def test_a_domain_admin_cannot_delete_or_move_their_own_domain(east_admin, tenants):
    url = reverse("admin:hooks_domain_delete", args=[tenants["east"].pk])
    assert east_admin.post(url, {"post": "yes"}).status_code == 403
    response = east_admin.get(reverse("admin:hooks_domain_add"))
    choices = {str(c) for c in response.context["adminform"].form.fields["parent"].queryset}
    assert choices == {"east", "east-sub"}


def test_a_user_role_staff_login_sees_no_console(client, tenants, hooks):
    user = UserFactory(username="plain", is_staff=True)
    MembershipFactory(user=user, account=tenants["east_acct"], role=Role.USER)
    client.force_login(user)
    assert client.get(WEBHOOKS).status_code == 403
    assert client.get(DELIVERIES).status_code == 403


# --- the chart ------------------------------------------------------------------------------


def test_activity_buckets_count_outcomes_and_durations_by_hour(hooks):
    now = timezone.now()
    made = deliveries(hooks["east"], succeeded=2, failed=1, pending=1)
    DeliveryAttemptFactory(delivery=made[0], number=1, duration_ms=10, started_at=now)
    DeliveryAttemptFactory(delivery=made[1], number=1, duration_ms=30, started_at=now)
    buckets = webhook_activity(hooks["east"], now=now)
    assert len(buckets) == 24
    last = buckets[-1]
    assert (last.succeeded, last.failed, last.pending) == (2, 1, 1)
    assert (last.avg_ms, last.max_ms) == (20, 30)
    assert all(b.succeeded == 0 and b.avg_ms is None for b in buckets[:-1])


def test_the_activity_chart_draws_bars_and_the_latency_line():
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    buckets = [
        Bucket(start=start + dt.timedelta(hours=i), succeeded=i, failed=1, avg_ms=5.0 * i, max_ms=9)
        for i in range(4)
    ]
    svg = activity_svg(buckets)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('fill="#2e7d32"><title>') == 3  # hours with successes
    assert svg.count('fill="#c62828"><title>') == 4
    assert "<polyline" in svg and "nan" not in svg.lower()
    assert "00:00" in svg and ">5 ms<" not in svg and ">20 ms<" in svg
    assert activity_svg([Bucket(start=start)]).count("<rect") == 1 + 4  # frame and legend


def test_acting_on_all_rows_past_the_cap_is_refused(root, hooks, monkeypatch):
    monkeypatch.setattr(CappedPaginator, "CAP", 3)
    made = deliveries(hooks["east"], failed=5)
    page = text(root.get(DELIVERIES))
    assert "more than 3 results" in page and "across all pages" not in page
    response = root.post(
        DELIVERIES,
        {"action": "delete_selected", "select_across": "1", "_selected_action": [made[0].pk]},
        follow=True,
    )
    assert "More than 3 rows match" in text(response)
    assert Delivery.objects.count() == 5
    assert "Show counts" not in page  # facets would count every choice


# --- what the review found -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"{WEBHOOKS}?secret__startswith=whsec_",
        f"{WEBHOOKS}?auth_password__regex=.",
        f"{WEBHOOKS}?previous_secret__gt=",
        f"{WEBHOOKS}?payload_url__regex=(",
        f"{WEBHOOKS}?event_types__contains=x",
        f"{EVENTS}?data__contains=x",
        f"{DELIVERIES}?last_error__regex=(",
        f"{DELIVERIES}?webhook__secret__startswith=w",
    ],
)
def test_lookups_the_filters_do_not_build_are_refused(root, hooks, url):
    """Any lookup on a model's own field would let `?secret__startswith=`
    guess a secret a character at a time; only the filters' lookups pass."""
    deliveries(hooks["east"], failed=1)
    assert root.get(url).status_code == 400


def test_the_filters_own_lookups_still_work(root, hooks):
    for url in (
        f"{WEBHOOKS}?scope__exact=local&enabled__exact=1",
        f"{DELIVERIES}?status__exact=failed&created_at__gte=2000-01-01%2000:00:00%2B00:00",
        f"{reverse('admin:hooks_account_changelist')}?domain__id__exact={hooks['east'].domain_id}",
        f"{reverse('admin:hooks_membership_changelist')}?role__exact=user",
    ):
        assert root.get(url).status_code == 200, url


@pytest.mark.parametrize("url", [WEBHOOKS, DELIVERIES, reverse("admin:hooks_domain_changelist")])
def test_a_crafted_selection_is_refused_not_a_500(root, hooks, url):
    response = root.post(
        url, {"action": "delete_selected", "_selected_action": ["zz"]}, follow=True
    )
    assert response.status_code == 200
    assert "The selection is not valid." in text(response)


@pytest.fixture
def rooted_global(tenants):
    """A root admin's global webhook owned by an account in east-sub: a domain
    admin of east sees it, but only root admins may act on it."""
    webhook = WebhookFactory(
        name="global-hook", account=tenants["east_sub_acct"], scope=Scope.GLOBAL
    )
    return webhook, deliveries(webhook, failed=1)[0]


def test_a_domain_admin_sees_but_cannot_act_on_a_global_webhook(east_admin, rooted_global):
    webhook, failed = rooted_global
    page = east_admin.get(change_url(webhook))
    assert page.status_code == 200 and "Rotate secret" not in text(page)  # view only
    assert east_admin.post(change_url(webhook), {"name": "x"}).status_code == 403
    response = east_admin.post(
        WEBHOOKS, {"action": "disable", "_selected_action": [webhook.pk]}, follow=True
    )
    assert "1 global webhook(s) left alone" in text(response)
    assert Webhook.objects.get(pk=webhook.pk).enabled
    for name in ("admin:hooks_webhook_rotate_secret", "admin:hooks_webhook_test"):
        assert east_admin.post(reverse(name, args=[webhook.pk])).status_code == 403
    delete = reverse("admin:hooks_webhook_delete", args=[webhook.pk])
    assert east_admin.post(delete, {"post": "yes"}).status_code == 403
    redeliver = reverse("admin:deliveries_delivery_redeliver", args=[failed.pk])
    assert east_admin.post(redeliver).status_code == 403
    east_admin.post(
        DELIVERIES, {"action": "delete_selected", "_selected_action": [failed.pk], "post": "yes"}
    )
    assert Webhook.objects.filter(pk=webhook.pk).exists()
    assert Delivery.objects.filter(pk=failed.pk, status=DeliveryStatus.FAILED).exists()


def test_deleting_an_account_that_would_take_others_webhooks_is_refused(
    east_admin, tenants, root_domain
):
    # A global webhook owned by an east-sub account, in the ROOT domain
    WebhookFactory(
        name="root-global", account=tenants["east_sub_acct"], domain=root_domain, scope=Scope.GLOBAL
    )
    url = reverse("admin:hooks_account_delete", args=[tenants["east_sub_acct"].pk])
    page = text(east_admin.get(url))
    assert "root-global" not in page  # not listed by name: counted
    assert "webhooks outside your domain, or global ones" in page
    assert east_admin.post(url, {"post": "yes"}).status_code == 403
    assert Webhook.objects.filter(name="root-global").exists()


def test_the_delete_page_counts_a_webhooks_deliveries_instead_of_listing_them(root, hooks):
    made = deliveries(hooks["east"], succeeded=30)
    page = text(root.get(reverse("admin:hooks_webhook_delete", args=[hooks["east"].pk])))
    assert "Deliveries (with their attempts): 30" in page
    assert str(made[0].pk) not in page
    root.post(reverse("admin:hooks_webhook_delete", args=[hooks["east"].pk]), {"post": "yes"})
    assert (
        not Delivery.objects.exists() and not Webhook.objects.filter(pk=hooks["east"].pk).exists()
    )


def test_an_account_with_members_cannot_be_deleted(root, tenants):
    MembershipFactory(account=tenants["west_acct"])
    url = reverse("admin:hooks_account_delete", args=[tenants["west_acct"].pk])
    response = root.post(url, {"post": "yes"})
    assert "protected" in text(response).lower()
    assert tenants["west_acct"].__class__.objects.filter(pk=tenants["west_acct"].pk).exists()


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
