"""The history pages: events, deliveries and attempts.

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
from typing import TYPE_CHECKING, TypedDict

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from console.base import (
    CappedPaginator,
    TenantAdmin,
    counted,
    pretty_json,
    short_id,
    status_badge,
    uuid_or_404,
)
from console.dates import time_field
from console.filters import DeliveryEventTypeFilter, EventTypeFilter, WebhookFilter
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from deliveries.pipeline.operator import DeliveryInFlight, deliveries_requeue, delivery_redeliver
from deliveries.removal import deliveries_delete
from hooks.models import Scope
from hooks.permissions import request_actor

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _LastDuration(TypedDict):
    last_duration_ms: int | None  # DeliveryAdmin.get_queryset's


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
        cap = self.paginator.CAP
        if request.POST.get("select_across") == "1" and queryset[: cap + 1].count() > cap:
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
            self.message_user(
                request,
                f"Search takes an event id (a UUID); “{term[:80]}” is not one.",
                messages.WARNING,
            )
            return queryset.none(), False
        return queryset.filter(self.search_q(wanted)), False

    def search_q(self, wanted: uuid.UUID):
        raise NotImplementedError


@admin.register(Event)
class EventAdmin(HistoryAdmin):
    change_form_template = "admin/console/event/change_form.html"
    list_display = ["created", "type", "event_id", "account", "domain", "resource"]
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


def _last_attempt(field: str) -> Subquery:
    last = DeliveryAttempt.objects.filter(delivery=OuterRef("pk")).order_by("-number")
    return Subquery(last.values(field)[:1], output_field=IntegerField())


@admin.register(Delivery)
class DeliveryAdmin(HistoryAdmin):
    change_form_template = "admin/console/delivery/change_form.html"
    account_field = "webhook__account"
    domain_field = "webhook__domain"
    list_display = [
        "created",
        "status_column",
        "webhook",
        "event_type",
        "attempts",
        "last_status_code",
        "duration",
        "next_attempt",
        "finished",
    ]
    list_display_links = ["created"]
    list_filter = [
        "status",
        WebhookFilter,
        DeliveryEventTypeFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["event__id"]
    search_help_text = "An event id or a delivery id."
    ordering = ["-created_at"]
    sortable_by = ["created"]
    actions = ["redeliver", "delete_selected"]
    fields = [
        "event",
        "webhook",
        "status",
        "attempts",
        "next_attempt",
        "lease_expires",
        "last_status_code",
        "last_error",
        "created",
        "finished",
    ]
    readonly_fields = ["next_attempt", "lease_expires", "created", "finished"]
    created = time_field("created_at", "created")
    next_attempt = time_field("next_attempt_at", "next attempt", ordering=False)
    lease_expires = time_field("lease_expires_at", "lease expires", ordering=False)
    finished = time_field("finished_at", "finished", ordering=False)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("event", "webhook")
            .only(
                *(f.name for f in Delivery._meta.concrete_fields),
                "event__id",
                "event__type",
                "webhook__id",
                "webhook__name",
                "webhook__scope",
            )
            .annotate(last_duration_ms=_last_attempt("duration_ms"))
        )

    def search_q(self, wanted):
        return Q(event_id=wanted) | Q(pk=wanted)

    @admin.display(description="status", ordering="status")
    def status_column(self, delivery: Delivery) -> str:
        return status_badge(delivery.status)

    @admin.display(description="event type")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.display(description="duration")
    def duration(self, delivery: WithAnnotations[Delivery, _LastDuration]) -> str:
        ms = delivery.last_duration_ms
        return "-" if ms is None else f"{ms} ms"

    @admin.action(description="Redeliver selected deliveries (queued for the workers)")
    def redeliver(self, request, queryset):
        selected = list(self.actionable(request, queryset).values_list("pk", flat=True))
        count = deliveries_requeue(selected)
        skipped = len(selected) - count
        text = f"Queued {counted(count, 'delivery', 'deliveries')} for another attempt."
        if skipped:
            text += f" {skipped} being sent right now were left alone."
        self.message_user(request, text, messages.SUCCESS)
        if len(selected) < queryset.count():
            self.message_user(
                request,
                "Deliveries of global webhooks were left alone: only root admins act on them.",
                messages.WARNING,
            )

    def actionable(self, request, deliveries: QuerySet[Delivery]) -> QuerySet[Delivery]:
        """Deliveries the actor may redeliver or delete: those of webhooks they
        may manage (a domain admin sees a global webhook's, not act on them)."""
        if request_actor(request).is_root:
            return deliveries
        return deliveries.exclude(webhook__scope=Scope.GLOBAL)

    def get_deleted_objects(self, objs, request):
        # Bulk deletion skips deliveries being sent rather than refusing all.
        if isinstance(objs, QuerySet):
            objs = self.actionable(request, objs).exclude(status=DeliveryStatus.SENDING)
        return super().get_deleted_objects(objs, request)

    def delete_queryset(self, request, queryset):
        deliveries_delete(deliveries=self.actionable(request, queryset))

    def delete_model(self, request, obj: Delivery) -> None:
        # Its page refuses a delivery being sent; one a worker claimed since
        # is left alone too, and the operator told.
        if not deliveries_delete(deliveries=Delivery.objects.filter(pk=obj.pk)):
            raise PermissionDenied("The delivery is being sent right now; try again shortly.")

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.status == DeliveryStatus.SENDING:
            return False
        if obj is not None and not request_actor(request).may_manage_webhook(obj.webhook):
            return False
        return super().has_delete_permission(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        delivery = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if delivery is not None:
            attempts = [
                {
                    "attempt": attempt,
                    "request_headers": pretty_json(attempt.request_headers),
                    "response_headers": pretty_json(attempt.response_headers),
                }
                for attempt in delivery.attempt_set.order_by("number")
            ]
            event = Event.objects.get(pk=delivery.event_id)
            extra_context.update(
                # "VM.CREATE → local receiver (succeeded)", not two ids.
                title="Delivery",
                subtitle=f"{event.type} → {delivery.webhook.name} ({delivery.status})",
                delivery=delivery,
                can_redeliver=delivery.status != DeliveryStatus.SENDING
                and request_actor(request).may_manage_webhook(delivery.webhook),
                delivery_attempts=attempts,
                envelope=pretty_json(event.envelope()),
                event=event,
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/redeliver/",
                self.admin_site.admin_view(self.redeliver_view),
                name=f"{info}_redeliver",
            ),
            *super().get_urls(),
        ]

    def redeliver_view(self, request, object_id):
        """One more attempt now, from this process, and its result shown."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        delivery = get_object_or_404(self.get_queryset(request), pk=uuid_or_404(object_id))
        if not request_actor(request).may_manage_webhook(delivery.webhook):
            raise PermissionDenied("Only root admins act on global webhooks' deliveries.")
        try:
            delivery, attempt = delivery_redeliver(delivery=delivery)
        except DeliveryInFlight as exc:
            self.message_user(request, str(exc), messages.WARNING)
        else:
            level = (
                messages.SUCCESS if delivery.status == DeliveryStatus.SUCCEEDED else messages.ERROR
            )
            outcome = (
                f"HTTP {attempt.response_status}"
                if not attempt.error_class
                else f"{attempt.error_class}: {attempt.error_message}"
            )
            self.message_user(
                request,
                f"Attempt {attempt.number}: {outcome} in {attempt.duration_ms} ms; "
                f"the delivery is {delivery.status}.",
                level,
            )
        return HttpResponseRedirect(
            reverse(
                "admin:deliveries_delivery_change",
                args=[delivery.pk],
                current_app=self.admin_site.name,
            )
        )


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
