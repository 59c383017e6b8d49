"""/api/v1/webhooks/{id}/filters/: a webhook's include/exclude rules, one at a
time (CloudStack's add/list/deleteWebhookFilter), and as the webhook's
`event_filters` field; the rules apply to the next event matched."""

from __future__ import annotations

import pytest

from hooks.models import Role, Scope, Webhook
from hooks.selectors import webhooks_for_event
from tests.api_client import client_for, url_of
from tests.conftest import UNKNOWN_ID, WEBHOOKS
from tests.factories import MembershipFactory, WebhookFactory

pytestmark = [pytest.mark.django_db]


def matched(webhook: Webhook, event_type: str) -> bool:
    found = webhooks_for_event(
        event_type=event_type, account_id=webhook.account_id, domain=webhook.domain
    )
    return webhook in found


def test_rules_are_added_listed_changed_and_deleted(admin, east_hook):
    filters = f"{url_of(east_hook)}filters/"

    # add an include and an exclude rule
    include = admin.post(
        filters, {"mode": "include", "match": "prefix", "value": "VM."}, format="json"
    )
    exclude = admin.post(
        filters, {"mode": "exclude", "match": "suffix", "value": ".DESTROY"}, format="json"
    )
    assert (include.status_code, exclude.status_code) == (201, 201), include.content
    rule_id = exclude.json()["id"]

    # they are listed, in order, and are the webhook's event_filters
    listed = admin.get(filters).json()
    assert listed["count"] == 2
    assert [r["value"] for r in listed["results"]] == ["VM.", ".DESTROY"]
    assert admin.get(url_of(east_hook)).json()["event_filters"] == listed["results"]
    assert admin.get(f"{filters}{rule_id}/").json()["mode"] == "exclude"
    # and apply to the next event
    assert matched(east_hook, "VM.CREATE")
    assert not matched(east_hook, "VM.DESTROY")
    assert not matched(east_hook, "NET.CREATE")

    # change one
    changed = admin.patch(
        f"{filters}{rule_id}/", {"match": "contains", "value": "STOP"}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json() == {
        "id": rule_id,
        "mode": "exclude",
        "match": "contains",
        "value": "STOP",
    }
    assert matched(east_hook, "VM.DESTROY")
    assert not matched(east_hook, "VM.STOP")

    # delete it, then all
    assert admin.delete(f"{filters}{rule_id}/").status_code == 204
    assert admin.get(f"{filters}{rule_id}/").status_code == 404
    assert admin.delete(filters).json() == {"deleted": 1}
    assert admin.get(filters).json() == {"count": 0, "results": []}
    assert matched(east_hook, "NET.CREATE")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "maybe", "match": "exact", "value": "VM.CREATE"}, "mode"),
        ({"mode": "include", "match": "regex", "value": "VM.CREATE"}, "match"),
        ({"mode": "include", "match": "prefix", "value": "VM.*"}, "value"),
        ({"mode": "include", "match": "prefix", "value": ""}, "value"),
        ({"mode": "include", "match": "prefix"}, "value"),
    ],
)
def test_a_bad_rule_is_a_400_naming_the_field(admin, east_hook, body, field):
    response = admin.post(f"{url_of(east_hook)}filters/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Webhook.objects.get(pk=east_hook.pk).event_filters == []


def test_a_duplicate_rule_is_a_400(admin, east_hook):
    body = {"mode": "include", "match": "exact", "value": "VM.CREATE"}
    assert admin.post(f"{url_of(east_hook)}filters/", body, format="json").status_code == 201

    response = admin.post(f"{url_of(east_hook)}filters/", body, format="json")

    assert response.status_code == 400
    assert "twice" in str(response.json())


def test_unknown_webhooks_and_rules_are_404(admin, east_hook):
    assert admin.get(f"{WEBHOOKS}{UNKNOWN_ID}/filters/").status_code == 404
    assert admin.get(f"{url_of(east_hook)}filters/{UNKNOWN_ID}/").status_code == 404
    assert admin.delete(f"{url_of(east_hook)}filters/{UNKNOWN_ID}/").status_code == 404
    patch = admin.patch(f"{url_of(east_hook)}filters/{UNKNOWN_ID}/", {"value": "A"}, format="json")
    assert patch.status_code == 404


def test_another_tenants_webhook_is_not_found(east_user, tenants):
    west_hook = WebhookFactory(account=tenants["west_acct"])

    assert east_user.get(f"{url_of(west_hook)}filters/").status_code == 404
    body = {"mode": "include", "match": "exact", "value": "VM.CREATE"}
    assert east_user.post(f"{url_of(west_hook)}filters/", body, format="json").status_code == 404


def test_the_whole_list_is_written_through_the_webhook(admin, east_hook):
    rules = [
        {"mode": "include", "match": "prefix", "value": "VOLUME."},
        {"mode": "exclude", "match": "exact", "value": "VOLUME.RESIZE"},
    ]

    response = admin.patch(url_of(east_hook), {"event_filters": rules}, format="json")

    assert response.status_code == 200, response.content
    stored = Webhook.objects.get(pk=east_hook.pk).event_filters
    assert [{k: r[k] for k in ("mode", "match", "value")} for r in stored] == rules
    assert all(r["id"] for r in stored)
    bad = admin.patch(
        url_of(east_hook),
        {"event_filters": [{"mode": "include", "match": "glob", "value": "X"}]},
        format="json",
    )
    assert bad.status_code == 400
    assert "event_filters" in bad.json()


def test_the_event_type_filter_of_the_list_honours_the_rules(admin, tenants):
    # global: the list's ?event_type= shows the webhooks an event the caller
    # publishes would reach (hooks/filters.py), and the root admin's reach
    # this one whatever its account
    hook = WebhookFactory(
        account=tenants["east_acct"],
        scope=Scope.GLOBAL,
        event_types=["VM.*"],
        event_filters=[{"id": UNKNOWN_ID, "mode": "exclude", "match": "exact", "value": "VM.STOP"}],
    )

    ids = lambda t: [w["id"] for w in admin.get(f"{WEBHOOKS}?event_type={t}").json()["results"]]  # noqa: E731

    assert str(hook.id) in ids("VM.START")
    assert str(hook.id) not in ids("VM.STOP")


def test_a_domain_admin_cannot_change_the_rules_of_a_global_webhook_they_see(tenants):
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.DOMAIN_ADMIN)
    east_admin = client_for(membership.user)
    rooted = WebhookFactory(account=tenants["east_acct"], scope=Scope.GLOBAL)
    body = {"mode": "exclude", "match": "exact", "value": "VM.CREATE"}

    assert east_admin.get(f"{url_of(rooted)}filters/").status_code == 200  # seen
    response = east_admin.post(f"{url_of(rooted)}filters/", body, format="json")

    assert response.status_code == 403
    assert Webhook.objects.get(pk=rooted.pk).event_filters == []
