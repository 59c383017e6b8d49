"""The webhook writes of hooks.services, with the actor's scope rules: the
API and the console both write through these, so the rules are tested here
once, without either interface."""

import pytest
from django.core.exceptions import ValidationError

from hooks.errors import ScopeError
from hooks.models import Role, Scope, Webhook
from hooks.permissions import Actor
from hooks.services import (
    OPERATOR_DISABLED,
    webhook_check_scope,
    webhook_create,
    webhook_delete,
    webhook_rotate_secret,
    webhook_update,
    webhooks_set_enabled,
)
from tests.factories import WebhookFactory

URL = "https://receiver.example.com/hook"


@pytest.fixture
def actors(tenants):
    """A root admin, a domain admin of east (which holds east-sub), a user of east-sub."""
    return {
        "root": Actor(user=None, role=Role.ROOT_ADMIN, account=tenants["root_acct"]),
        "east_admin": Actor(user=None, role=Role.DOMAIN_ADMIN, account=tenants["east_acct"]),
        "east_sub_user": Actor(user=None, role=Role.USER, account=tenants["east_sub_acct"]),
    }


# (actor, scope, account, domain, refusal: None when allowed)
SCOPE_RULES = [
    ("root", Scope.GLOBAL, "east_sub_acct", "root", None),
    ("east_admin", Scope.GLOBAL, "east_acct", "east", "Only root admins may have global webhooks."),
    ("east_admin", Scope.DOMAIN, "east_sub_acct", "east", None),
    ("east_admin", Scope.LOCAL, "east_sub_acct", "east_sub", None),
    ("east_sub_user", Scope.LOCAL, "east_sub_acct", "east_sub", None),
    ("east_sub_user", Scope.DOMAIN, "east_sub_acct", "east_sub", "Users may only have local"),
    ("east_sub_user", Scope.LOCAL, "east_sub_acct", "east", "lives in their account's domain"),
]


@pytest.mark.parametrize(("actor", "scope", "account", "domain", "refusal"), SCOPE_RULES)
def test_the_scope_rule_by_role(actors, tenants, actor, scope, account, domain, refusal):
    def check():
        webhook_check_scope(
            actor=actors[actor], scope=scope, account=tenants[account], domain=tenants[domain]
        )

    if refusal is None:
        check()
    else:
        with pytest.raises(ScopeError, match=refusal):
            check()


def test_a_scope_error_is_djangos_permission_denied():
    """So DRF answers it 403 and Django's views too, with no mapping of their own."""
    from django.core.exceptions import PermissionDenied

    assert issubclass(ScopeError, PermissionDenied)


def test_creating_defaults_to_the_actors_account_and_its_domain(actors, tenants):
    webhook = webhook_create(actor=actors["east_sub_user"], name="mine", payload_url=URL)

    assert (webhook.account, webhook.domain) == (tenants["east_sub_acct"], tenants["east_sub"])
    assert webhook.scope == Scope.LOCAL and webhook.secret.startswith("whsec_")


def test_creating_what_the_role_may_not_have_is_refused_and_saves_nothing(actors, tenants):
    with pytest.raises(ScopeError, match="Only root admins"):
        webhook_create(
            actor=actors["east_admin"],
            name="global",
            payload_url=URL,
            account=tenants["east_acct"],
            scope=Scope.GLOBAL,
        )

    assert not Webhook.objects.exists()


def test_creating_without_an_account_needs_an_actor_with_one(tenants):
    nobody = Actor(user=None, role=None, account=None)

    for actor in (nobody, None):
        with pytest.raises(ValidationError) as caught:
            webhook_create(actor=actor, name="x", payload_url=URL)
        assert caught.value.message_dict == {"account": ["This field is required."]}


def test_a_root_admin_without_a_membership_creates_for_the_root_admin_account(tenants):
    # A superuser made with Django's createsuperuser has no membership.
    superuser = Actor(user=None, role=Role.ROOT_ADMIN, account=None)

    webhook = webhook_create(actor=superuser, name="x", payload_url=URL)

    assert (webhook.account.name, webhook.account.domain) == ("admin", tenants["root"])
    assert webhook.domain == tenants["root"]


def test_the_platform_itself_is_held_to_no_role(tenants):
    webhook = webhook_create(
        actor=None, name="g", payload_url=URL, account=tenants["east_acct"], scope=Scope.GLOBAL
    )

    assert webhook.scope == Scope.GLOBAL


def test_updating_to_a_scope_the_role_may_not_have_is_refused(actors, tenants):
    webhook = WebhookFactory(payload_url=URL, account=tenants["east_acct"])

    with pytest.raises(ScopeError):
        webhook_update(actor=actors["east_admin"], webhook=webhook, scope=Scope.GLOBAL)

    assert Webhook.objects.get(pk=webhook.pk).scope == Scope.LOCAL


def test_a_new_account_without_a_domain_moves_the_webhook_to_the_accounts_domain(actors, tenants):
    webhook = WebhookFactory(payload_url=URL, account=tenants["east_acct"])

    webhook_update(actor=actors["east_admin"], webhook=webhook, account=tenants["east_sub_acct"])

    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.account, stored.domain) == (tenants["east_sub_acct"], tenants["east_sub"])


def test_an_edit_never_undoes_a_rotation_that_landed_meanwhile(actors, tenants):
    """Given a webhook loaded for an edit, when its secret is rotated before
    the edit is saved, then the edit keeps the new secret and its overlap."""
    webhook = WebhookFactory(payload_url=URL, account=tenants["east_acct"])
    loaded = Webhook.objects.get(pk=webhook.pk)
    rotated = webhook_rotate_secret(webhook=webhook)

    webhook_update(actor=actors["east_admin"], webhook=loaded, name="renamed")

    stored = Webhook.objects.get(pk=webhook.pk)
    assert stored.name == "renamed"
    assert (stored.secret, stored.previous_secret) == (rotated.secret, rotated.previous_secret)


def test_setting_the_secret_by_hand_ends_the_rotation_overlap(tenants):
    webhook = webhook_rotate_secret(
        webhook=WebhookFactory(payload_url=URL, account=tenants["east_acct"])
    )
    secret = "whsec_" + "A" * 32

    webhook_update(actor=None, webhook=webhook, secret=secret)

    stored = Webhook.objects.get(pk=webhook.pk)
    assert (stored.secret, stored.previous_secret, stored.previous_secret_expires_at) == (
        secret,
        "",
        None,
    )


def test_a_domain_admin_may_not_delete_a_global_webhook_but_may_delete_a_local_one(actors, tenants):
    homed_in_subtree = WebhookFactory(
        payload_url=URL, account=tenants["east_sub_acct"], scope=Scope.GLOBAL
    )
    local = WebhookFactory(payload_url=URL, account=tenants["east_sub_acct"])

    with pytest.raises(ScopeError):
        webhook_delete(actor=actors["east_admin"], webhook=homed_in_subtree)
    webhook_delete(actor=actors["east_admin"], webhook=local)

    assert list(Webhook.objects.values_list("pk", flat=True)) == [homed_in_subtree.pk]


def test_enabling_and_disabling_leave_what_the_actor_may_not_manage(actors, tenants):
    local = WebhookFactory(payload_url=URL, account=tenants["east_acct"])
    homed_in_subtree = WebhookFactory(
        payload_url=URL, account=tenants["east_sub_acct"], scope=Scope.GLOBAL
    )
    both = Webhook.objects.filter(pk__in=[local.pk, homed_in_subtree.pk])

    disabled = webhooks_set_enabled(actor=actors["east_admin"], webhooks=both, enabled=False)

    assert disabled == 1
    assert dict(Webhook.objects.values_list("pk", "enabled")) == {
        local.pk: False,
        homed_in_subtree.pk: True,
    }
    assert webhooks_set_enabled(actor=actors["root"], webhooks=both, enabled=False) == 2


def test_an_operator_disabling_says_so_in_the_state_both_ways(actors, tenants):
    """webhook_update(enabled=False) (the API's PATCH, the console's form) and
    webhooks_set_enabled (the console's action) record why and since when; a
    webhook a worker disabled already keeps the worker's reason."""
    one = WebhookFactory(payload_url=URL, account=tenants["east_acct"])
    other = WebhookFactory(payload_url=URL, account=tenants["east_acct"])
    gone = WebhookFactory(
        payload_url=URL, account=tenants["east_acct"], enabled=False, state_reason="410 Gone"
    )

    webhook_update(actor=actors["root"], webhook=one, enabled=False)
    webhooks_set_enabled(
        actor=actors["root"],
        webhooks=Webhook.objects.filter(pk__in=[other.pk, gone.pk]),
        enabled=False,
    )
    webhook_update(actor=actors["root"], webhook=Webhook.objects.get(pk=gone.pk), enabled=False)

    for webhook in (one, other):
        stored = Webhook.objects.get(pk=webhook.pk)
        assert (stored.enabled, stored.state_reason) == (False, OPERATOR_DISABLED)
        assert stored.state_changed_at is not None
    assert Webhook.objects.get(pk=gone.pk).state_reason == "410 Gone"
