"""List filters (django-filter). An invalid value is a 400 naming the filter."""

from __future__ import annotations

from typing import Any

import django_filters as filters
from django.db.models import QuerySet

from core.api import StrictOrderingFilter
from hooks.event_filters import filters_allow
from hooks.health import Health
from hooks.models import Account, Domain, Scope, Webhook, WebhookQuerySet
from hooks.permissions import request_actor
from hooks.roots import find_root_admin_account
from hooks.selectors import event_domain, in_scope

UNHEALTHY = "unhealthy"


class StrictBooleanFilter(filters.TypedChoiceFilter):
    """true/false, and a 400 for anything else (django-filter's own
    BooleanFilter reads an unknown value as "no filter")."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        super().__init__(coerce=lambda value: value == "true", **kwargs)


class WebhookFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    scope = filters.ChoiceFilter(choices=Scope.choices)
    enabled = StrictBooleanFilter()
    account = filters.UUIDFilter(field_name="account_id")
    domain = filters.UUIDFilter(field_name="domain_id")
    event_type = filters.CharFilter(
        method="filter_event_type",
        help_text="Webhooks that would receive an event of this type published by you "
        "without naming an account (POST /events/ then uses yours): enabled, with a "
        "scope that takes your account's events and event type patterns and filter rules "
        "that let it through.",
    )
    health = filters.ChoiceFilter(
        choices=[*Health.choices, (UNHEALTHY, "Unhealthy (anything but healthy)")],
        method="filter_health",
        help_text="Webhooks in this health state; unhealthy: any state but healthy.",
    )

    class Meta:
        model = Webhook
        fields = ["name", "scope", "enabled", "account", "domain", "event_type", "health"]

    def filter_health(self, queryset: WebhookQuerySet, name: str, value: str) -> WebhookQuerySet:
        if value == UNHEALTHY:
            return queryset.in_health(Health.DEGRADED, Health.CIRCUIT_OPEN, Health.DISABLED)
        return queryset.in_health(value)

    def filter_event_type(
        self, queryset: QuerySet[Webhook], name: str, value: str
    ) -> QuerySet[Webhook]:
        # What publishing would do (hooks.selectors.webhooks_for_event): the
        # caller's default account, enabled webhooks whose scope takes its
        # events, patterns and filter rules matched in Python by the same code.
        actor = request_actor(self.request)
        account = actor.account if actor.account or not actor.is_root else find_root_admin_account()
        reach = in_scope(
            account_id=account.pk if account else None,
            domain=event_domain(account=account, domain=None),
        )
        rows = queryset.filter(reach, enabled=True).values_list(
            "id", "event_types", "event_filters"
        )
        wanted = [pk for pk, patterns, rules in rows if filters_allow(patterns, rules, value)]
        return queryset.filter(pk__in=wanted)


class WebhookOrderingFilter(StrictOrderingFilter):
    """?ordering=health orders by state, healthy first (HEALTH_ORDER);
    -health puts the worst first. Ties: newest first, so pages are stable."""

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> Any:
        ordering = super().get_ordering(request, queryset, view)
        if not ordering or not any(term.lstrip("-") == "health" for term in ordering):
            return ordering
        mapped = [f"{term}_rank" if term.lstrip("-") == "health" else term for term in ordering]
        named = {term.lstrip("-") for term in mapped}
        return [*mapped, *(tie for tie in ("-created_at", "-id") if tie[1:] not in named)]


class DomainFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    parent = filters.UUIDFilter(field_name="parent_id")

    class Meta:
        model = Domain
        fields = ["name", "parent"]


class AccountFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    domain = filters.UUIDFilter(field_name="domain_id")

    class Meta:
        model = Account
        fields = ["name", "domain"]
