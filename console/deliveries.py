"""The delivery pages: the list (filters, keyword search, bulk actions that
become background jobs past API_BULK_SYNC_MAX) and a delivery's page (its
attempts, the body it is sent with, redeliver and requeue). Read-only, as
every history page (console/history.py's HistoryAdmin)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TypedDict

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from console.base import (
    counted,
    pretty_json,
    status_badge,
    uuid_or_404,
)
from console.dates import time_field
from console.filters import DeliveryEventTypeFilter, WebhookFilter, WorkerFilter
from console.history import HistoryAdmin
from console.jobs import job_or_none
from deliveries.formats import body_build
from deliveries.models import BulkJobKind, Delivery, DeliveryAttempt, DeliveryStatus, Event
from deliveries.pipeline.operator import DeliveryInFlight, deliveries_requeue, delivery_redeliver
from deliveries.removal import deliveries_delete
from deliveries.search import SearchError, deliveries_matching, within_window
from hooks.models import Scope
from hooks.permissions import request_actor

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _LastDuration(TypedDict):
    last_duration_ms: int | None  # DeliveryAdmin.get_queryset's


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
        WorkerFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["event__id"]
    search_help_text = (
        "An event id or a delivery id; or words found in the event type, the last error or "
        "the payload URL (deliveries of the last API_DELIVERY_SEARCH_DAYS days)."
    )
    ordering = ["-created_at"]
    sortable_by = ["created"]
    actions = ["redeliver", "delete_selected", "delete_in_background"]
    fields = [
        "event",
        "webhook",
        "status",
        "attempts",
        "repeat",
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

    def search_words(self, request, queryset, term: str):
        """Not an id: the API's keyword search, over the same bounded window."""
        try:
            matching = deliveries_matching(queryset, term)
        except SearchError as exc:
            self.message_user(request, str(exc), messages.WARNING)
            return queryset.none()
        return within_window(matching, bounded=False, now=timezone.now())

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
        job = job_or_none(
            self, request, self.actionable(request, queryset), kind=BulkJobKind.REQUEUE
        )
        if job is not None:
            return job
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

    @admin.action(description="Delete selected deliveries (a background job past 1,000)")
    def delete_in_background(self, request, queryset):
        # No confirmation page listing each row: a count, then a job (or at
        # once for a small selection).
        actionable = self.actionable(request, queryset)
        if request.POST.get("confirmed") != "yes":
            limit = settings.API_BULK_SYNC_MAX
            return TemplateResponse(
                request,
                "admin/console/bulkjob/confirm_delete.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "count": actionable[: limit + 1].count(),
                    "limit": limit,
                    "post": request.POST,
                    "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                    "title": "Delete deliveries?",
                },
            )
        job = job_or_none(self, request, actionable, kind=BulkJobKind.DELETE)
        if job is not None:
            return job
        deleted = deliveries_delete(deliveries=actionable)
        self.message_user(request, f"Deleted {deleted} deliveries.", messages.SUCCESS)
        return None

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
                envelope=sent_body(delivery, event),
                payload_format=delivery.webhook.get_payload_format_display(),
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


def sent_body(delivery: Delivery, event: Event) -> str:
    """The body a delivery is sent with, in its webhook's payload format (as
    it is now), indented for people."""
    body = body_build(event, delivery.webhook.payload_format).for_delivery(delivery.id)
    return pretty_json(json.loads(body))
