"""The tenant pages (console.tenants): the domain tree, accounts, and what
deleting them may take along."""

from django.urls import reverse

from hooks.models import Scope, Webhook
from tests.console.kit import text
from tests.factories import MembershipFactory, WebhookFactory


def test_the_domain_list_draws_the_tree(root, tenants):
    page = text(root.get(reverse("admin:hooks_domain_changelist")))
    positions = [page.index(f"{name}</span>") for name in ("ROOT", "└ east", "└ east-sub")]
    assert positions == sorted(positions)


def test_a_domain_admin_cannot_delete_or_move_their_own_domain(east_admin, tenants):
    url = reverse("admin:hooks_domain_delete", args=[tenants["east"].pk])
    assert east_admin.post(url, {"post": "yes"}).status_code == 403
    response = east_admin.get(reverse("admin:hooks_domain_add"))
    choices = {str(c) for c in response.context["adminform"].form.fields["parent"].queryset}
    assert choices == {"east", "east-sub"}


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


def test_an_account_with_members_cannot_be_deleted(root, tenants):
    MembershipFactory(account=tenants["west_acct"])
    url = reverse("admin:hooks_account_delete", args=[tenants["west_acct"].pk])
    response = root.post(url, {"post": "yes"})
    assert "protected" in text(response).lower()
    assert tenants["west_acct"].__class__.objects.filter(pk=tenants["west_acct"].pk).exists()


def test_a_domains_delivery_settings_are_set_in_its_form_and_reach_its_subtree(root, tenants):
    east = tenants["east"]
    hook = WebhookFactory(account=tenants["east_sub_acct"])
    data = {"name": "east", "delivery_timeout": "3.5", "delivery_max_attempts": "2"}

    response = root.post(reverse("admin:hooks_domain_change", args=[east.pk]), data, follow=True)

    assert response.status_code == 200
    assert "was changed successfully" in text(response)
    hook = Webhook.objects.select_related("domain").get(pk=hook.pk)
    assert (hook.effective_timeout, hook.effective_max_attempts) == (3.5, 2)
    page = text(root.get(reverse("admin:hooks_domain_change", args=[tenants["east_sub"].pk])))
    assert "timeout 3.5 s, from domain east; 2 attempts, from domain east" in page
    listing = text(root.get(reverse("admin:hooks_domain_changelist")))
    assert "3.5 s (from domain east) · 2 attempts (from domain east)" in listing


def test_a_bad_domain_setting_is_refused_on_the_form(root, tenants):
    url = reverse("admin:hooks_domain_change", args=[tenants["east"].pk])
    response = root.post(url, {"name": "east", "delivery_max_attempts": "99"})
    assert response.status_code == 200
    assert "less than or equal to 50" in text(response)
