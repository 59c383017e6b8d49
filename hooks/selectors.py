"""Reads about webhooks. `webhooks_for_event` is the one place matching lives."""

from __future__ import annotations

import uuid

from django.db.models import Q

from hooks.models import Account, Domain, Scope, Webhook


def webhooks_for_event(
    *,
    event_type: str,
    account_id: uuid.UUID | None,
    domain: Domain | None,
) -> list[Webhook]:
    """Enabled webhooks that must receive an event, with CloudStack's scopes.

    - global: every event;
    - domain: events whose domain is the webhook's domain or below it;
    - local: events of the webhook's own account.
    Then each webhook's event type patterns and include/exclude rules
    (Webhook.wants). The rules are a column of the webhook row, so the one
    query here is all matching costs, however many rules. Read fresh from the
    database every time: a change to a webhook applies to the very next event.
    """
    candidates = Webhook.objects.enabled().filter(in_scope(account_id=account_id, domain=domain))
    return [webhook for webhook in candidates if webhook.wants(event_type)]


def event_domain(*, account: Account | None, domain: Domain | None) -> Domain | None:
    """The domain an event belongs to: its account's, else the one given."""
    if account is not None:
        return account.domain
    return domain


def in_scope(*, account_id: uuid.UUID | None, domain: Domain | None) -> Q:
    """Webhooks whose scope takes in an event of this account and domain
    (webhooks_for_event; hooks.callhooks for call events; the API's
    ?event_type= filter, hooks.filters)."""
    scope_match = Q(scope=Scope.GLOBAL)
    if account_id is not None:
        scope_match |= Q(scope=Scope.LOCAL, account_id=account_id)
    if domain is not None:
        scope_match |= Q(scope=Scope.DOMAIN, domain_id__in=domain.ancestor_ids)
    return scope_match
