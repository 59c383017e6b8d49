"""Which webhooks get a call event, and the cheap "does anyone listen?"
(hooks/callhooks.py), on the database."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hooks.callhooks import TYPE_OF_PHASE, call_listeners, recipients_to_receive
from hooks.models import Scope, Webhook
from hooks.selectors import webhooks_of
from hooks.services import webhooks_set_enabled
from tests.factories import WebhookFactory

pytestmark = pytest.mark.django_db


def names(webhooks) -> list[str]:
    return sorted(w.name for w in webhooks)


def webhooks_to_receive(**kwargs) -> list[Webhook]:
    """What publishing delivers an event to, as models."""
    return webhooks_of(recipients_to_receive(**kwargs))


def call(method="vm.start", phase="pre", *, account):
    return webhooks_to_receive(
        event_type=TYPE_OF_PHASE[phase],
        data={"method": method},
        account_id=account.id,
        domain=account.domain,
    )


def test_call_events_follow_scopes_as_any_event(tenants):
    acct = tenants["east_sub_acct"]
    for name, owner, scope in [
        ("local-own", acct, Scope.LOCAL),
        ("local-other", tenants["east_acct"], Scope.LOCAL),
        ("domain-parent", tenants["east_acct"], Scope.DOMAIN),
        ("domain-sibling", tenants["west_acct"], Scope.DOMAIN),
        ("global", tenants["root_acct"], Scope.GLOBAL),
    ]:
        WebhookFactory(name=name, account=owner, scope=scope, call_methods=["vm.*"])
    WebhookFactory(name="disabled", account=acct, call_methods=["vm.*"], enabled=False)

    assert names(call(account=acct)) == ["domain-parent", "global", "local-own"]


def test_call_events_follow_method_and_phase(tenants):
    acct = tenants["east_acct"]
    WebhookFactory(name="vm-both", account=acct, call_methods=["vm.*"])
    WebhookFactory(name="vm-pre", account=acct, call_methods=["vm.*"], call_phase="pre")
    WebhookFactory(name="start-post", account=acct, call_methods=["vm.start"], call_phase="post")
    WebhookFactory(name="webhooks", account=acct, call_methods=["webhook.*"])

    assert names(call("vm.start", "pre", account=acct)) == ["vm-both", "vm-pre"]
    assert names(call("vm.start", "post", account=acct)) == ["start-post", "vm-both"]
    assert names(call("vm.stop", "post", account=acct)) == ["vm-both"]
    assert names(call("webhook.create", "post", account=acct)) == ["webhooks"]


@pytest.mark.parametrize("event_types", [[], ["*"], ["call.*"], ["call.pre", "call.post"]])
def test_event_type_filters_never_let_a_call_event_through(tenants, event_types):
    # Given an ordinary webhook whose event types would match "call.pre" as a type
    acct = tenants["east_acct"]
    WebhookFactory(name="ordinary", account=acct, event_types=event_types)
    WebhookFactory(name="call-hook", account=acct, call_methods=["vm.*"])

    for type in ("call.pre", "call.post"):
        got = webhooks_to_receive(
            event_type=type, data={"method": "vm.start"}, account_id=acct.id, domain=acct.domain
        )
        assert names(got) == ["call-hook"]


def test_a_call_event_without_a_method_reaches_nobody(tenants):
    acct = tenants["east_acct"]
    WebhookFactory(account=acct, call_methods=["*"])
    for data in ({}, {"method": 7}, []):
        assert (
            webhooks_to_receive(
                event_type="call.pre", data=data, account_id=acct.id, domain=acct.domain
            )
            == []
        )


def test_ordinary_events_skip_call_hooks_without_event_types(tenants):
    acct = tenants["east_acct"]
    WebhookFactory(name="ordinary", account=acct)
    WebhookFactory(name="call-only", account=acct, call_methods=["vm.*"])
    WebhookFactory(name="both", account=acct, call_methods=["vm.*"], event_types=["VM.*"])

    got = webhooks_to_receive(
        event_type="VM.CREATE", data={}, account_id=acct.id, domain=acct.domain
    )

    assert names(got) == ["both", "ordinary"]


# --- the listener cache -------------------------------------------------------------------


def phases(method, account):
    return call_listeners.phases(method=method, account_id=account.id, domain=account.domain)


def test_listeners_say_which_phases_anyone_in_scope_wants(tenants):
    east, west = tenants["east_acct"], tenants["west_acct"]
    WebhookFactory(account=east, call_methods=["vm.*"], call_phase="pre")
    WebhookFactory(account=tenants["root_acct"], scope=Scope.DOMAIN, call_methods=["vm.start"])
    WebhookFactory(account=east, call_methods=["webhook.*"], call_phase="post")

    assert phases("vm.stop", east) == {"pre"}
    assert phases("vm.start", east) == {"pre", "post"}  # the root domain's
    assert phases("vm.start", west) == {"pre", "post"}
    assert phases("vm.stop", west) == set()
    assert phases("webhook.create", east) == {"post"}
    assert phases("event.publish", east) == set()
    assert call_listeners.phases(method="vm.start", account_id=None, domain=None) == set()


def test_a_warm_cache_answers_without_a_query(tenants, settings):
    settings.WEBHOOK_CALL_HOOKS_REFRESH = 60
    east = tenants["east_acct"]
    phases("vm.start", east)  # read once

    with CaptureQueriesContext(connection) as queries:
        for _ in range(100):
            assert phases("vm.start", east) == set()

    assert len(queries) == 0


def test_a_saved_or_deleted_webhook_is_seen_at_once_in_this_process(tenants, settings):
    settings.WEBHOOK_CALL_HOOKS_REFRESH = 3600
    east = tenants["east_acct"]
    assert phases("vm.start", east) == set()

    hook = WebhookFactory(account=east, call_methods=["vm.*"])
    assert phases("vm.start", east) == {"pre", "post"}

    hook.call_phase = "post"
    hook.save()
    assert phases("vm.start", east) == {"post"}

    hook.delete()
    assert phases("vm.start", east) == set()


def test_disabling_in_bulk_is_seen_at_once(tenants, settings):
    from hooks.permissions import Actor

    settings.WEBHOOK_CALL_HOOKS_REFRESH = 3600
    east = tenants["east_acct"]
    WebhookFactory(account=east, call_methods=["vm.*"])
    assert phases("vm.start", east) == {"pre", "post"}

    webhooks_set_enabled(
        actor=Actor(user=None, role="root_admin", account=None),
        webhooks=Webhook.objects.all(),
        enabled=False,
    )

    assert phases("vm.start", east) == set()


def test_another_process_change_is_seen_after_the_refresh_interval(tenants, settings):
    settings.WEBHOOK_CALL_HOOKS_REFRESH = 3600
    east = tenants["east_acct"]
    hook = WebhookFactory(account=east)
    assert phases("vm.start", east) == set()
    # As another process would change it: no signal here.
    Webhook.objects.filter(pk=hook.pk).update(call_methods=["vm.*"])
    assert phases("vm.start", east) == set()  # the cached answer, for now

    settings.WEBHOOK_CALL_HOOKS_REFRESH = 0
    assert phases("vm.start", east) == {"pre", "post"}
