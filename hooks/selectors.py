"""Reads about webhooks. `webhooks_for_event` is the one place matching lives."""

from __future__ import annotations

import uuid

from django.db.models import Q

from hooks.models import Account, Domain, Membership, Role, Scope, Webhook


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
    Then each webhook's event type filter. Read fresh from the database every
    time: a change to a webhook applies to the very next event.
    """
    scope_match = Q(scope=Scope.GLOBAL)
    if account_id is not None:
        scope_match |= Q(scope=Scope.LOCAL, account_id=account_id)
    if domain is not None:
        scope_match |= Q(scope=Scope.DOMAIN, domain_id__in=domain.ancestor_ids)
    candidates = Webhook.objects.enabled().filter(scope_match)
    return [webhook for webhook in candidates if webhook.wants(event_type)]


def event_domain(*, account: Account | None, domain: Domain | None) -> Domain | None:
    """The domain an event belongs to: its account's, else the one given."""
    if account is not None:
        return account.domain
    return domain


def user_membership(user) -> Membership | None:
    return getattr(user, "membership", None) if user.is_authenticated else None


def is_root_admin(user) -> bool:
    membership = user_membership(user)
    return bool(user.is_superuser or (membership and membership.role == Role.ROOT_ADMIN))


def tenant_q(user, *, account_field: str, domain_field: str) -> Q:
    """The rows a user may see, given where the row's account and domain live.

    Root admins see everything; a domain admin their domain's subtree; a user
    their own account. A login with no membership sees nothing.
    """
    if is_root_admin(user):
        return Q()
    membership = user_membership(user)
    if membership is None:
        return Q(pk__in=[])
    if membership.role == Role.DOMAIN_ADMIN:
        return Q(**{f"{domain_field}__path__startswith": membership.account.domain.path})
    return Q(**{account_field: membership.account_id})
