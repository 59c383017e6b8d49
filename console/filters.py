"""List filters that scale and respect tenancy: free text where listing every
value would be a full scan, and choices limited to what the actor sees."""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.utils import timezone

from deliveries.search import SearchError, within_window, worker_q
from deliveries.selectors import HEALTH_WINDOW, Health, webhooks_in_health
from hooks.filters import UNHEALTHY
from hooks.health import Health as State
from hooks.models import Webhook
from hooks.permissions import request_actor


class InputFilter(admin.SimpleListFilter):
    """A free-text list filter: on millions of rows, listing every distinct
    value to click on would itself be a full scan."""

    template = "admin/console/input_filter.html"

    def lookups(self, request, model_admin):
        return ()

    def has_output(self) -> bool:
        return True

    def choices(self, changelist):
        # The other parameters of the page, kept as hidden fields of the form.
        others = {
            k: v for k, v in changelist.get_filters_params().items() if k != self.parameter_name
        }
        if changelist.query:
            others["q"] = changelist.query
        yield {
            "value": self.value() or "",
            "parameter_name": self.parameter_name,
            "others": [(k, v[-1] if isinstance(v, list) else v) for k, v in others.items()],
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
        }


class EventTypeFilter(InputFilter):
    title = "event type"
    parameter_name = "event_type"
    field = "type"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        if not value:
            return queryset
        return queryset.filter(**{self.field: value})


class DeliveryEventTypeFilter(EventTypeFilter):
    field = "event__type"


class WorkerFilter(InputFilter):
    """Deliveries with an attempt by a worker (host:pid, or a host), within
    the search window (deliveries/search.py), as the API's ?worker=."""

    title = "worker (host:pid or host)"
    parameter_name = "worker"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        if not value:
            return queryset
        try:
            by_worker = queryset.filter(worker_q(value))
        except SearchError as exc:
            messages.warning(request, str(exc))
            return queryset.none()
        return within_window(by_worker, bounded=False, now=timezone.now())


class ChoicesFromQuerysetFilter(admin.SimpleListFilter):
    """Choices limited to the rows the actor may see (Django's related-field
    filters would list every tenant's names)."""

    field: str
    limit = 200

    def rows(self, request) -> QuerySet:
        raise NotImplementedError

    def lookups(self, request, model_admin):
        return [(str(row.pk), str(row)) for row in self.rows(request)[: self.limit]]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        try:
            uuid.UUID(value)
        except ValueError:
            return queryset.none()
        return queryset.filter(**{self.field: value})


class WebhookFilter(ChoicesFromQuerysetFilter):
    title = "webhook"
    parameter_name = "webhook"
    field = "webhook_id"

    def rows(self, request):
        actor = request_actor(request)
        visible = actor.visible(account_field="account", domain_field="domain")
        return Webhook.objects.filter(visible).order_by("name").only("id", "name")


class OwnerDomainFilter(ChoicesFromQuerysetFilter):
    title = "owner domain"
    parameter_name = "domain"
    field = "domain_id"

    def rows(self, request):
        return request_actor(request).domains().order_by("path").only("id", "name")


class OwnerAccountFilter(ChoicesFromQuerysetFilter):
    title = "owner account"
    parameter_name = "account"
    field = "account_id"

    def rows(self, request):
        return request_actor(request).accounts().select_related("domain").order_by("name")


class SuccessRateFilter(admin.SimpleListFilter):
    """By the share of the window's deliveries that succeeded (the "last 24 h"
    column), not by state (StateFilter)."""

    title = f"success rate (last {HEALTH_WINDOW.total_seconds() / 3600:g} h)"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return Health.CHOICES

    def queryset(self, request, queryset):
        value = self.value()
        if value not in dict(Health.CHOICES):
            return queryset
        return webhooks_in_health(queryset, value, now=timezone.now())


class StateFilter(admin.SimpleListFilter):
    """By state as the workers wrote it (the "state" column): the API's
    ?health= filter, values included."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [*State.choices, (UNHEALTHY, "Unhealthy (any but healthy)")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == UNHEALTHY:
            return queryset.in_health(State.DEGRADED, State.CIRCUIT_OPEN, State.DISABLED)
        if value in State.values:
            return queryset.in_health(value)
        return queryset
