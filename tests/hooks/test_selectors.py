"""Matching an event to webhooks: hooks.selectors.webhooks_for_event, alone.

The `tenants` tree is ROOT > (east > east-sub), west, with an account in each.
"""

import pytest

from hooks.models import Scope
from hooks.selectors import event_domain, webhooks_for_event
from tests.factories import AccountFactory, WebhookFactory

pytestmark = pytest.mark.django_db


def matched(*, event_type="VM.CREATE", account=None, domain=None) -> set[str]:
    """Names of the webhooks an event of this type, account and domain goes to."""
    webhooks = webhooks_for_event(
        event_type=event_type,
        account_id=account.id if account else None,
        domain=event_domain(account=account, domain=domain),
    )
    return {webhook.name for webhook in webhooks}


@pytest.fixture
def hooks(tenants):
    """One webhook of each scope at each level of the tree."""
    t = tenants
    return {
        "global": WebhookFactory(name="global", scope=Scope.GLOBAL, account=t["root_acct"]),
        "root-domain": WebhookFactory(
            name="root-domain", scope=Scope.DOMAIN, account=t["root_acct"]
        ),
        "east-domain": WebhookFactory(
            name="east-domain", scope=Scope.DOMAIN, account=t["east_acct"]
        ),
        "east-sub-domain": WebhookFactory(
            name="east-sub-domain", scope=Scope.DOMAIN, account=t["east_sub_acct"]
        ),
        "west-domain": WebhookFactory(
            name="west-domain", scope=Scope.DOMAIN, account=t["west_acct"]
        ),
        "root-local": WebhookFactory(name="root-local", scope=Scope.LOCAL, account=t["root_acct"]),
        "east-local": WebhookFactory(name="east-local", scope=Scope.LOCAL, account=t["east_acct"]),
        "east-sub-local": WebhookFactory(
            name="east-sub-local", scope=Scope.LOCAL, account=t["east_sub_acct"]
        ),
        "west-local": WebhookFactory(name="west-local", scope=Scope.LOCAL, account=t["west_acct"]),
    }


# --- scopes -----------------------------------------------------------------------------


def test_an_event_of_an_account_in_a_subdomain(tenants, hooks):
    # when an event happens in east-sub's account
    names = matched(account=tenants["east_sub_acct"])

    # then: its own local webhook, the domain webhooks of east-sub, east and ROOT, global
    assert names == {"east-sub-local", "east-sub-domain", "east-domain", "root-domain", "global"}


def test_a_domain_webhook_does_not_see_its_parent_or_a_sibling(tenants, hooks):
    # an east event: not east-sub's domain webhook (a child of east), not west's (a sibling)
    names = matched(account=tenants["east_acct"])

    assert names == {"east-local", "east-domain", "root-domain", "global"}


def test_a_sibling_subtree_sees_none_of_the_other(tenants, hooks):
    names = matched(account=tenants["west_acct"])

    assert names == {"west-local", "west-domain", "root-domain", "global"}


def test_a_root_account_event(tenants, hooks):
    names = matched(account=tenants["root_acct"])

    assert names == {"root-local", "root-domain", "global"}


def test_a_local_webhook_gets_only_its_own_accounts_events(tenants, hooks):
    receiving = {
        name: {
            account_name
            for account_name in ("root_acct", "east_acct", "east_sub_acct", "west_acct")
            if name in matched(account=tenants[account_name])
        }
        for name in ("root-local", "east-local", "east-sub-local", "west-local")
    }

    assert receiving == {
        "root-local": {"root_acct"},
        "east-local": {"east_acct"},
        "east-sub-local": {"east_sub_acct"},
        "west-local": {"west_acct"},
    }


def test_a_second_account_in_the_same_domain_is_not_local(tenants, hooks):
    # given another account in east
    other = AccountFactory(domain=tenants["east"], name="east-other")

    # then east's local webhook does not see its events; east's domain webhook does
    assert matched(account=other) == {"east-domain", "root-domain", "global"}


def test_an_event_with_a_domain_but_no_account(tenants, hooks):
    names = matched(domain=tenants["east"])

    assert names == {"east-domain", "root-domain", "global"}


def test_an_event_with_neither_account_nor_domain_reaches_only_global(tenants, hooks):
    assert matched() == {"global"}


def test_a_global_webhook_gets_every_event(tenants, hooks):
    for account in ("root_acct", "east_acct", "east_sub_acct", "west_acct"):
        assert "global" in matched(account=tenants[account])
    assert "global" in matched(domain=tenants["west"])


def test_an_event_accounts_domain_wins_over_a_given_domain(tenants, hooks):
    # event_domain: an event of an account is in its account's domain
    assert event_domain(account=tenants["west_acct"], domain=tenants["east"]) == tenants["west"]


# --- event type filters -----------------------------------------------------------------


@pytest.fixture
def filtered(tenants):
    account = tenants["east_acct"]

    def make(name, patterns):
        return WebhookFactory(name=name, account=account, event_types=patterns)

    make("all", [])
    make("exact", ["VM.CREATE"])
    make("vm-star", ["VM.*"])
    make("star-create", ["*.CREATE"])
    make("several", ["VOLUME.DELETE", "NETWORK.*"])
    return account


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("VM.CREATE", {"all", "exact", "vm-star", "star-create"}),
        ("VM.DESTROY", {"all", "vm-star"}),
        # '*' crosses dots (fnmatch), so VM.* covers deeper types too
        ("VM.SNAPSHOT.CREATE", {"all", "vm-star", "star-create"}),
        # ...but the literal "VM." must be there: no VMX, no bare VM
        ("VMX.CREATE", {"all", "star-create"}),
        ("VM", {"all"}),
        ("VM.", {"all", "vm-star"}),
        # exact means exact: anchored at both ends, case-sensitive
        ("VM.CREATED", {"all", "vm-star"}),
        ("XVM.CREATE", {"all", "star-create"}),
        ("vm.create", {"all"}),
        ("VOLUME.DELETE", {"all", "several"}),
        ("NETWORK.UPDATE", {"all", "several"}),
        ("VOLUME.CREATE", {"all", "star-create"}),
    ],
)
def test_event_type_filters(filtered, event_type, expected):
    assert matched(event_type=event_type, account=filtered) == expected


def test_dots_in_a_pattern_are_literal(tenants):
    WebhookFactory(name="dotted", account=tenants["east_acct"], event_types=["VM.CREATE"])

    assert matched(event_type="VMXCREATE", account=tenants["east_acct"]) == set()


# --- changes apply at once ---------------------------------------------------------------


def test_a_disabled_webhook_gets_nothing(tenants):
    WebhookFactory(name="off-local", account=tenants["east_acct"], enabled=False)
    WebhookFactory(
        name="off-global", scope=Scope.GLOBAL, account=tenants["root_acct"], enabled=False
    )

    assert matched(account=tenants["east_acct"]) == set()
    assert matched() == set()


def test_a_change_to_a_webhook_applies_to_the_very_next_call(tenants):
    # given a webhook that receives VM.CREATE
    webhook = WebhookFactory(name="hook", account=tenants["east_acct"], event_types=["VM.*"])
    assert matched(account=tenants["east_acct"]) == {"hook"}

    # when its filter changes, then the next event follows the new filter
    webhook.event_types = ["VOLUME.*"]
    webhook.save()
    assert matched(account=tenants["east_acct"]) == set()
    assert matched(event_type="VOLUME.CREATE", account=tenants["east_acct"]) == {"hook"}

    # when it is disabled, then it gets nothing
    webhook.enabled = False
    webhook.save()
    assert matched(event_type="VOLUME.CREATE", account=tenants["east_acct"]) == set()

    # when it is enabled again with another scope, then that scope applies at once
    webhook.enabled = True
    webhook.scope = Scope.DOMAIN
    webhook.save()
    assert matched(event_type="VOLUME.CREATE", account=tenants["east_sub_acct"]) == {"hook"}


def test_a_change_made_by_queryset_update_applies_too(tenants):
    # a bulk update bypasses save(): nothing may be cached from before it
    webhook = WebhookFactory(name="hook", account=tenants["east_acct"])
    assert matched(account=tenants["east_acct"]) == {"hook"}

    type(webhook).objects.filter(pk=webhook.pk).update(event_types=["NETWORK.*"])

    assert matched(account=tenants["east_acct"]) == set()


# --- the query compiled once per shape ------------------------------------------------------


@pytest.mark.parametrize("who", ["root_acct", "east_sub_acct", "west_acct", "no account"])
def test_the_compiled_query_answers_as_the_orm(tenants, hooks, who):
    # The query's SQL is compiled once per shape and run on a plain cursor
    # (PostgreSQL); its rows must be the queryset's own.
    from hooks.selectors import _candidate_rows, _candidates

    account = tenants.get(who)
    account_id = account.id if account else None
    ancestors = tuple(account.domain.ancestor_ids) if account else ()

    got = sorted(tuple(row) for row in _candidate_rows(account_id, ancestors))

    assert got == sorted(_candidates(account_id, ancestors))
    assert got  # the global webhook at least


def test_a_decision_is_remembered_by_the_rules_text_only():
    from hooks.selectors import _receives

    _receives.cache_clear()
    assert _receives("VM.CREATE", None, '["VM.*"]', "[]", "[]", "both")
    assert not _receives("VM.CREATE", None, '["NET.*"]', "[]", "[]", "both")
    assert _receives.cache_info().misses == 2
    assert _receives("VM.CREATE", None, '["VM.*"]', "[]", "[]", "both")
    assert _receives.cache_info().hits == 1
