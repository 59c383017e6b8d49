"""What every console page shares (console.base): the tenant rule, the
lookups the list filters allow, refused selections, and the paginator that
never counts a whole table."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console.base import CappedPaginator
from deliveries.models import Delivery
from hooks.models import Role, Webhook
from tests.console.kit import DELIVERIES, EVENTS, WEBHOOKS, change_url, deliveries, text
from tests.factories import MembershipFactory, UserFactory


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


def test_a_user_role_staff_login_sees_no_console(client, tenants, hooks):
    user = UserFactory(username="plain", is_staff=True)
    MembershipFactory(user=user, account=tenants["east_acct"], role=Role.USER)
    client.force_login(user)
    assert client.get(WEBHOOKS).status_code == 403
    assert client.get(DELIVERIES).status_code == 403


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


def test_counted_says_one_delivery_and_two_deliveries():
    from console.base import counted

    assert counted(1, "delivery", "deliveries") == "1 delivery"
    assert counted(2, "delivery", "deliveries") == "2 deliveries"
    assert counted(0, "webhook") == "0 webhooks"
    assert counted(12_000, "webhook") == "12,000 webhooks"
