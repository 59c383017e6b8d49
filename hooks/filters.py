"""List filters (django-filter). An invalid value is a 400 naming the filter."""

from __future__ import annotations

from typing import Any

import django_filters as filters
from django.db.models import QuerySet

from hooks.models import Account, Domain, Scope, Webhook, patterns_match


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
        help_text="Webhooks whose event type filter lets this event type through.",
    )

    class Meta:
        model = Webhook
        fields = ["name", "scope", "enabled", "account", "domain", "event_type"]

    def filter_event_type(
        self, queryset: QuerySet[Webhook], name: str, value: str
    ) -> QuerySet[Webhook]:
        # Patterns are matched in Python (the same code that routes events), so
        # the answer is exactly what delivery would do.
        rows = queryset.values_list("id", "event_types")
        wanted = [pk for pk, patterns in rows if patterns_match(patterns, value)]
        return queryset.filter(pk__in=wanted)


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
