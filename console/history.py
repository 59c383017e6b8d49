"""The history pages: events and attempts, and what every history page shares
(HistoryAdmin); the delivery pages are console/deliveries.py.

History is read, not edited: these tables grow by millions of rows, so the
lists are read-only, ordered by an index, never counted whole
(CappedPaginator), and free of facet counts. Deleting deliveries goes through
deliveries.removal, as the API's does.

Django finds the actions and search form templates of these pages by the
models' app label (console/templates/admin/deliveries/); the pagination line,
"more than …" past the cap, is every list's (console/templates/admin/pagination.html).
"""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpResponseRedirect

from console.base import (
    CappedPaginator,
    TenantAdmin,
    pretty_json,
    short_id,
)
from console.dates import time_field
from console.filters import EventTypeFilter
from deliveries.models import Delivery, DeliveryAttempt, Event
from hooks.permissions import request_actor

BACKGROUND_ACTIONS = ("redeliver", "delete_in_background")


class HistoryAdmin(TenantAdmin):
    """History is read, not edited. Lists never COUNT(*) the whole table."""

    paginator = CappedPaginator
    show_full_result_count = False
    # Facet counts are one COUNT per filter choice over the filtered table.
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    def response_action(self, request, queryset):
        # "Select all across pages" past the cap would act on millions of rows
        # from one web request; the template hides it, this refuses it.
        # Actions that hand a big selection to a background job may go past it.
        cap = self.paginator.CAP
        background = request.POST.get("action") in BACKGROUND_ACTIONS
        across = request.POST.get("select_across") == "1"
        if across and not background and queryset[: cap + 1].count() > cap:
            self.message_user(
                request,
                f"More than {cap} rows match: narrow the list with the filters first.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        """Search by id: an event id (or this row's own id)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            wanted = uuid.UUID(term)
        except ValueError:
            return self.search_words(request, queryset, term), False
        return queryset.filter(self.search_q(wanted)), False

    def search_q(self, wanted: uuid.UUID):
        raise NotImplementedError

    def search_words(self, request, queryset, term: str):
        """What a search that is not an id finds: here, nothing."""
        self.message_user(
            request,
            f"Search takes an event id (a UUID); “{term[:80]}” is not one.",
            messages.WARNING,
        )
        return queryset.none()


@admin.register(Event)
class EventAdmin(HistoryAdmin):
    change_form_template = "admin/console/event/change_form.html"
    list_display = [
        "created",
        "type",
        "event_id",
        "account",
        "domain",
        "resource",
        "acted_by",
        "incident",
    ]
    list_filter = [EventTypeFilter, ("created_at", admin.DateFieldListFilter)]
    # An account prints with its domain's name.
    list_select_related = ["account__domain", "domain"]
    search_fields = ["id"]  # shows the search box; get_search_results does the work
    search_help_text = "An event id."
    ordering = ["-created_at"]
    sortable_by = ["created"]
    fields = [
        "type",
        "account",
        "domain",
        "resource_type",
        "resource_id",
        "occurred",
        "created",
        "data",
    ]
    readonly_fields = ["occurred", "created"]
    created = time_field("created_at", "created")
    occurred = time_field("occurred_at", "occurred", ordering=False)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("data")

    def search_q(self, wanted):
        return Q(pk=wanted)

    @admin.display(description="id")
    def event_id(self, event: Event) -> str:
        return short_id(event.pk)

    @admin.display(description="resource")
    def resource(self, event: Event) -> str:
        return " ".join(filter(None, [event.resource_type, event.resource_id])) or "-"

    @admin.display(description="actor")
    def acted_by(self, event: Event) -> str:
        return event.actor_name or event.actor_id or "-"

    @admin.display(description="incident")
    def incident(self, event: Event) -> str:
        """An alarm's incident and state (deliveries/alarms.py)."""
        return f"{event.incident_key} ({event.incident_state})" if event.incident_key else "-"

    def get_deleted_objects(self, objs, request):
        ids = [obj.pk for obj in objs]
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        counts["deliveries (with their attempts)"] = Delivery.objects.filter(event__in=ids).count()
        return deleted, counts, perms_needed, protected

    def has_delete_permission(self, request, obj=None) -> bool:
        # An event's deliveries can belong to other tenants (domain and global
        # webhooks): only a root admin may delete it.
        return request_actor(request).is_root and super().has_delete_permission(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        event = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if event is not None:
            event = Event.objects.get(pk=event.pk)  # with its data
            actor = request_actor(request)
            deliveries = (
                Delivery.objects.filter(
                    actor.visible(account_field="webhook__account", domain_field="webhook__domain"),
                    event=event,
                )
                .select_related("webhook")
                .order_by("created_at")
            )
            extra_context.update(
                envelope=pretty_json(event.envelope()), event_deliveries=deliveries
            )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(HistoryAdmin):
    """Reachable by URL; operators read attempts on their delivery's page."""

    account_field = "delivery__webhook__account"
    domain_field = "delivery__webhook__domain"
    list_display = [
        "started",
        "delivery",
        "number",
        "duration_ms",
        "response_status",
        "error_class",
        "worker",
    ]
    ordering = ["-started_at"]
    sortable_by = ["started"]
    started = time_field("started_at", "started")
    search_fields = ["delivery__event__id"]
    exclude = ["request_headers", "response_headers"]

    def search_q(self, wanted):
        return Q(delivery__event_id=wanted) | Q(delivery_id=wanted)

    def has_module_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
