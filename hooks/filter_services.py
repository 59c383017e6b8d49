"""Writes of a webhook's event filter rules (CloudStack's addWebhookFilter,
deleteWebhookFilter): each in one transaction on the locked webhook row, so
two rules added at once are both kept."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from hooks.event_filters import filter_rule, validate_event_filters
from hooks.models import Webhook
from hooks.permissions import Actor
from hooks.services import webhook_check_scope


class FilterNotFound(LookupError):
    pass


def _locked(*, actor: Actor | None, webhook: Webhook) -> Webhook:
    if actor is not None:
        webhook_check_scope(
            actor=actor, scope=webhook.scope, account=webhook.account, domain=webhook.domain
        )
    return Webhook.objects.select_for_update().get(pk=webhook.pk)


def _save(webhook: Webhook, rules: list[dict]) -> Webhook:
    try:
        validate_event_filters(rules)
    except ValidationError as exc:
        raise ValidationError({"event_filters": exc.messages}) from None
    webhook.event_filters = rules
    webhook.updated_at = timezone.now()
    webhook.save(update_fields=["event_filters", "updated_at"])
    return webhook


@transaction.atomic
def webhook_filter_add(
    *, actor: Actor | None = None, webhook: Webhook, mode: str, match: str, value: str
) -> dict:
    """Add a rule; returns it (with its new id). It applies to the next event."""
    locked = _locked(actor=actor, webhook=webhook)
    rule = filter_rule(mode=mode, match=match, value=value)
    _save(locked, [*locked.event_filters, rule])
    return rule


@transaction.atomic
def webhook_filter_update(
    *, actor: Actor | None = None, webhook: Webhook, rule_id: str, **changes: str
) -> dict:
    """Change a rule's mode, match or value; FilterNotFound if it is not there."""
    locked = _locked(actor=actor, webhook=webhook)
    rules = [dict(r) for r in locked.event_filters]
    for rule in rules:
        if rule["id"] == rule_id:
            rule.update({k: v for k, v in changes.items() if k in ("mode", "match", "value")})
            _save(locked, rules)
            return rule
    raise FilterNotFound(rule_id)


@transaction.atomic
def webhook_filters_delete(
    *, actor: Actor | None = None, webhook: Webhook, rule_id: str | None = None
) -> int:
    """Delete one rule (rule_id), or all of them (None): how many went.
    FilterNotFound when the one named is not there."""
    locked = _locked(actor=actor, webhook=webhook)
    kept = [r for r in locked.event_filters if rule_id is not None and r["id"] != rule_id]
    deleted = len(locked.event_filters) - len(kept)
    if rule_id is not None and not deleted:
        raise FilterNotFound(rule_id)
    _save(locked, kept)
    return deleted
