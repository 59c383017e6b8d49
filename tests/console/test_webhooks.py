"""The webhook pages (console.webhooks, console.forms): the list, the form,
the page, and what a domain admin may do with them."""

import uuid

import pytest
from django.urls import reverse

from deliveries.models import Delivery, DeliveryStatus
from hooks.domain_settings import domain_set_delivery
from hooks.models import Scope, Webhook
from tests.console.kit import DELIVERIES, WEBHOOKS, change_url, deliveries, form_data, text
from tests.factories import DeliveryAttemptFactory, WebhookFactory


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


def test_the_add_form_says_a_secret_will_be_made_and_defaults_the_account(tenants, client):
    from hooks.models import Role
    from tests.factories import MembershipFactory

    membership = MembershipFactory(
        account=tenants["west_acct"], role=Role.ROOT_ADMIN, user__is_staff=True
    )
    client.force_login(membership.user)
    response = client.get(reverse("admin:hooks_webhook_add"))
    page = text(response)
    assert "Generated when the webhook is saved, and shown once." in page
    assert "not signed" not in page
    assert "keep the current one" not in page and "Never shown back." in page
    assert response.context["adminform"].form["account"].initial == tenants["west_acct"]


def test_the_health_column_says_one_delivery(root, hooks):
    deliveries(hooks["east"], succeeded=1)
    page = text(root.get(WEBHOOKS))
    assert "100 % ok · 1 delivery<" in page and "1 deliveries" not in page


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


def test_the_form_sets_call_hook_methods_and_phase(root, tenants):
    data = form_data(tenants, event_types="", call_methods="webhook.*\nvm.start, ")
    root.post(reverse("admin:hooks_webhook_add"), {**data, "call_phase": "post"})
    webhook = Webhook.objects.get(name="new-hook")
    assert (webhook.call_methods, webhook.call_phase) == (["webhook.*", "vm.start"], "post")
    page = text(root.get(change_url(webhook)))
    assert "Call hooks" in page and "webhook.* vm.start" in page

    response = root.post(change_url(webhook), {**data, "call_methods": "vm start"})
    assert "not a valid method pattern" in " ".join(
        response.context["adminform"].form.errors["call_methods"]
    )


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
    assert "1 global webhook left alone" in text(response)
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


def test_the_delete_page_counts_a_webhooks_deliveries_instead_of_listing_them(root, hooks):
    made = deliveries(hooks["east"], succeeded=30)
    page = text(root.get(reverse("admin:hooks_webhook_delete", args=[hooks["east"].pk])))
    assert "Deliveries (with their attempts): 30" in page
    assert str(made[0].pk) not in page
    root.post(reverse("admin:hooks_webhook_delete", args=[hooks["east"].pk]), {"post": "yes"})
    assert (
        not Delivery.objects.exists() and not Webhook.objects.filter(pk=hooks["east"].pk).exists()
    )


def test_the_form_sets_the_payload_format_and_the_page_shows_it(root, tenants):
    data = form_data(tenants, payload_format="mycloudit")

    response = root.post(reverse("admin:hooks_webhook_add"), data, follow=True)

    assert response.status_code == 200
    webhook = Webhook.objects.get(name="new-hook")
    assert webhook.payload_format == "mycloudit"
    page = text(root.get(change_url(webhook)))
    assert "Payload format" in page and "MyCloudIT notification" in page


def test_an_unknown_payload_format_is_refused_by_the_form(root, tenants):
    response = root.post(
        reverse("admin:hooks_webhook_add"), form_data(tenants, payload_format="soap")
    )

    assert response.status_code == 200
    assert "Select a valid choice" in text(response)
    assert not Webhook.objects.filter(name="new-hook").exists()


def test_filter_rules_are_edited_as_lines_and_keep_their_ids(root, tenants):
    rules = "include prefix VOLUME.\nexclude suffix .DELETE\n"
    response = root.post(
        reverse("admin:hooks_webhook_add"), form_data(tenants, event_filters=rules), follow=True
    )
    assert response.status_code == 200
    webhook = Webhook.objects.get(name="new-hook")
    assert [(r["mode"], r["match"], r["value"]) for r in webhook.event_filters] == [
        ("include", "prefix", "VOLUME."),
        ("exclude", "suffix", ".DELETE"),
    ]
    kept_id = webhook.event_filters[1]["id"]
    assert not webhook.wants("VOLUME.DELETE") and webhook.wants("VOLUME.CREATE")

    page = text(root.get(change_url(webhook)))
    assert "exclude suffix .DELETE" in page
    edited = form_data(tenants, event_filters="exclude suffix .DELETE\ninclude exact NET.CREATE")
    root.post(change_url(webhook), edited, follow=True)
    webhook.refresh_from_db()
    assert [r["value"] for r in webhook.event_filters] == [".DELETE", "NET.CREATE"]
    assert webhook.event_filters[0]["id"] == kept_id


@pytest.mark.parametrize(
    "rules, message",
    [
        ("include prefix", "write “mode match value”"),
        ("maybe prefix VM.", "mode is include or exclude"),
        ("include glob VM.", "match is exact, prefix, suffix, contains"),
        ("include prefix VM.*", "no '*'"),
    ],
)
def test_bad_filter_rules_say_what_is_wrong(root, tenants, rules, message):
    response = root.post(
        reverse("admin:hooks_webhook_add"), form_data(tenants, event_filters=rules)
    )
    assert response.status_code == 200
    assert message in text(response)
    assert not Webhook.objects.filter(name="new-hook").exists()


def test_the_webhook_page_shows_effective_delivery_settings_and_their_source(root, tenants):
    domain_set_delivery(domain=tenants["east"], delivery_timeout=4)
    webhook = WebhookFactory(account=tenants["east_sub_acct"], max_attempts=2)

    page = text(root.get(change_url(webhook)))

    assert "timeout 4 s, from domain east" in page
    assert "2 attempts, set on the webhook" in page
