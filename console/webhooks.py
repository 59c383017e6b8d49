"""The webhook pages: the list with each webhook's health, the form, and the
page with its activity and recent deliveries. The operator's tools (test,
rotate the secret, enable, disable, redeliver the failed) are in
console.webhook_tools.

Writes go through hooks.services, as the API's do: the actor's scope rules
are applied there once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from console.base import HEALTH_COLOURS, TenantAdmin, status_badge
from console.charts import activity_svg
from console.filters import HealthFilter, OwnerAccountFilter, OwnerDomainFilter
from console.forms import WebhookForm
from console.webhook_tools import WebhookTools
from deliveries.models import Delivery
from deliveries.selectors import (
    HEALTH_WINDOW,
    LastOutcome,
    WindowCounts,
    webhook_activity,
    webhook_health,
    webhooks_with_last_outcome,
)
from hooks.models import Webhook
from hooks.permissions import request_actor

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations
from hooks.services import (
    webhook_create,
    webhook_delete,
    webhook_update,
)


class WebhookChangeList(ChangeList):
    """Health counts for the page's webhooks only, in one grouped query."""

    def get_results(self, request):
        super().get_results(request)
        webhooks = list(self.result_list)  # evaluated once; the template reuses it
        counts = webhook_health([w.pk for w in webhooks], now=timezone.now())
        for webhook in webhooks:
            webhook.window_counts = counts.get(webhook.pk, WindowCounts())


@admin.register(Webhook)
class WebhookAdmin(WebhookTools, TenantAdmin):
    form = WebhookForm
    change_form_template = "admin/console/webhook/change_form.html"
    list_display = [
        "name",
        "scope",
        "owner",
        "destination",
        "enabled",
        "health",
        "last_outcome",
    ]
    list_filter = ["scope", "enabled", HealthFilter, OwnerDomainFilter, OwnerAccountFilter]
    list_select_related = ["account", "domain"]
    search_fields = ["name", "payload_url", "description"]
    ordering = ["name"]
    actions = ["enable", "disable", "send_test_delivery", "redeliver_failed"]
    readonly_fields = ["id", "secret_status", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "description", "enabled"]}),
        ("Owner and scope", {"fields": ["scope", "account", "domain"]}),
        ("Destination", {"fields": ["payload_url", "event_types", "ssl_verification"]}),
        (
            "Request",
            {
                "fields": [
                    "header_style",
                    "headers",
                    "secret_status",
                    "auth_username",
                    "new_auth_password",
                    "clear_auth_password",
                ]
            },
        ),
        ("Delivery", {"fields": ["timeout", "max_attempts"]}),
        ("Record", {"fields": ["id", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request) -> QuerySet[Webhook]:
        return webhooks_with_last_outcome(super().get_queryset(request))

    def get_changelist(self, request, **kwargs):
        return WebhookChangeList

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request_actor(request)})

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not obj.auth_password:
            fieldsets = [
                (
                    name,
                    {**opts, "fields": [f for f in opts["fields"] if f != "clear_auth_password"]},
                )
                for name, opts in fieldsets
            ]
        if obj is None:
            fieldsets = [fs for fs in fieldsets if fs[0] != "Record"]
        return fieldsets

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        actor = request_actor(request)
        if db_field.name == "account":
            kwargs["queryset"] = actor.accounts().select_related("domain")
        elif db_field.name == "domain":
            kwargs["queryset"] = actor.domains()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- columns

    @admin.display(description="owner")
    def owner(self, webhook: Webhook) -> str:
        return f"{webhook.account.name} ({webhook.domain.name})"

    @admin.display(description="destination")
    def destination(self, webhook: Webhook) -> str:
        return urlsplit(webhook.payload_url).netloc or webhook.payload_url[:60]

    @admin.display(description=f"last {HEALTH_WINDOW.total_seconds() / 3600:g} h")
    def health(self, webhook: Webhook) -> str:
        counts: WindowCounts = getattr(webhook, "window_counts", WindowCounts())
        finished = counts.succeeded + counts.failed
        rate = f"{100 * counts.succeeded / finished:.0f} % ok" if finished else "no outcome"
        return format_html(
            '<span class="health health-{}" style="color:{}">{}</span> · {} · {} deliveries',
            counts.health,
            HEALTH_COLOURS[counts.health],
            counts.health,
            rate,
            counts.total,
        )

    @admin.display(description="last outcome")
    def last_outcome(self, webhook: WithAnnotations[Webhook, LastOutcome]) -> str:
        if not webhook.h_last_status:
            return "-"
        when = webhook.h_last_at
        ago = f"{timesince(when)} ago" if when else ""
        return format_html("{} {}", status_badge(webhook.h_last_status), ago)

    @admin.display(description="signing secret")
    def secret_status(self, webhook: Webhook) -> str:
        if not webhook.pk:
            return "Generated when the webhook is saved, and shown once."
        if not webhook.secret:
            return "None: requests are not signed."
        text = "Set (shown only when created or rotated)."
        expires = webhook.previous_secret_expires_at
        if webhook.previous_secret and expires and expires > timezone.now():
            text += f" The previous secret also signs until {expires:%Y-%m-%d %H:%M} UTC."
        return text

    # --- who may act

    def manageable(self, request, webhooks: QuerySet[Webhook]) -> QuerySet[Webhook]:
        """The webhooks among these the actor may change or act on: a domain
        admin sees a global webhook owned in their subtree, but only a root
        admin may touch it (as in the API)."""
        return webhooks.filter(request_actor(request).manageable_webhooks())

    def may_manage(self, request, webhook: Webhook | None) -> bool:
        return webhook is None or request_actor(request).may_manage_webhook(webhook)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self.may_manage(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self.may_manage(request, obj)

    def cascaded_webhooks(self, objs):
        return Webhook.objects.filter(pk__in=[obj.pk for obj in objs])

    # --- writing, through hooks.services

    def save_model(self, request, obj: Webhook, form: WebhookForm, change: bool) -> None:
        actor = request_actor(request)
        if change:
            # Only what the form edits is written, never the secret columns: a
            # rotation that lands while the form is open is not undone by it.
            webhook_update(actor=actor, webhook=obj, **form.written())
            return
        created = webhook_create(actor=actor, **form.written())
        # The admin goes on with `obj` (the log entry, the redirect): make it
        # the row written. The secret was made there, and is shown once below.
        vars(obj).update(vars(created))
        request._new_secret = created.secret

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_new_secret", None)
        if secret:
            self.message_user(
                request,
                format_html(
                    "Signing secret of “{}”, shown this once — copy it to the receiver now: "
                    '<code class="new-secret">{}</code>',
                    obj.name,
                    secret,
                ),
                messages.WARNING,
            )
        return super().response_add(request, obj, post_url_continue)

    def delete_model(self, request, obj: Webhook) -> None:
        webhook_delete(actor=request_actor(request), webhook=obj)

    def delete_queryset(self, request, queryset: QuerySet[Webhook]) -> None:
        actor = request_actor(request)
        with transaction.atomic():
            for webhook in queryset.select_related("account", "domain"):
                webhook_delete(actor=actor, webhook=webhook)

    # --- the webhook page

    def change_view(self, request, object_id, form_url="", extra_context=None):
        webhook = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if webhook is not None:
            now = timezone.now()
            recent = (
                Delivery.objects.filter(webhook=webhook)
                .select_related("event")
                .defer("event__data")
                .order_by("-created_at")[:20]
            )
            extra_context.update(
                recent_deliveries=recent,
                activity_chart=mark_safe(activity_svg(webhook_activity(webhook, now=now))),
                counts=webhook_health([webhook.pk], now=now).get(webhook.pk, WindowCounts()),
                webhook=webhook,
            )
        return super().change_view(request, object_id, form_url, extra_context)
