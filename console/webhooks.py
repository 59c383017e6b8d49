"""The webhook pages: the list with each webhook's state and success rate,
the form, and the page with its endpoint health, activity and recent
deliveries. The operator's tools (test, rotate the secret, resume, enable,
disable, redeliver the failed) are in console.webhook_tools.

Writes go through hooks.services, as the API's do: the actor's scope rules
are applied there once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from console.base import HEALTH_COLOURS, TenantAdmin, counted, state_badge, status_badge
from console.charts import activity_svg
from console.dates import moment, time_field
from console.filters import OwnerAccountFilter, OwnerDomainFilter, StateFilter, SuccessRateFilter
from console.forms import WebhookForm
from console.webhook_health import (
    HEALTH_FIELDS,
    WebhookHealthFields,
    span,
    state_detail,
    state_title,
)
from console.webhook_tools import WebhookTools, resumable
from deliveries import teardown
from deliveries.models import Delivery
from deliveries.pipeline.health import webhook_resume
from deliveries.selectors import (
    HEALTH_WINDOW,
    LastOutcome,
    WindowCounts,
    webhook_activity,
    webhook_health,
    webhooks_with_last_outcome,
)
from hooks.domain_settings import webhook_effective
from hooks.models import Webhook, WebhookQuerySet
from hooks.permissions import request_actor

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations
from hooks.services import (
    webhook_check_scope,
    webhook_create,
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
class WebhookAdmin(WebhookHealthFields, WebhookTools, TenantAdmin):
    form = WebhookForm
    change_form_template = "admin/console/webhook/change_form.html"
    list_display = [
        "name",
        "scope",
        "owner",
        "destination",
        "enabled",
        "state",
        "health",
        "last_outcome",
    ]
    list_filter = [
        "scope",
        "enabled",
        StateFilter,
        SuccessRateFilter,
        OwnerDomainFilter,
        OwnerAccountFilter,
    ]
    list_select_related = ["account", "domain"]
    search_fields = ["name", "payload_url", "description"]
    ordering = ["name"]
    actions = ["resume", "enable", "disable", "send_test_delivery", "redeliver_failed"]
    readonly_fields = [
        "id",
        "secret_status",
        "created",
        "updated",
        "effective_delivery",
        *HEALTH_FIELDS,
    ]
    fieldsets = [
        (None, {"fields": ["name", "description", "enabled"]}),
        ("Endpoint health", {"fields": list(HEALTH_FIELDS)}),
        ("Owner and scope", {"fields": ["scope", "account", "domain"]}),
        (
            "Destination",
            {"fields": ["payload_url", "event_types", "event_filters", "ssl_verification"]},
        ),
        (
            "Request",
            {
                "fields": [
                    "header_style",
                    "payload_format",
                    "headers",
                    "secret_status",
                    "auth_username",
                    "new_auth_password",
                    "clear_auth_password",
                ]
            },
        ),
        (
            "Delivery",
            {"fields": ["timeout", "max_attempts", "max_in_flight", "effective_delivery"]},
        ),
        ("Call hooks", {"fields": ["call_methods", "call_phase"]}),
        (
            "Acknowledgement and alarm repeats",
            {
                "fields": [
                    "ack_field",
                    "ack_value",
                    "ack_session_field",
                    "repeat_every",
                    "repeat_max",
                ],
                "description": "A receiver that acknowledges in its body (Tencent Cloud: "
                "field retCode, value 0, session id echo field sessionId): a 2xx without "
                "the acknowledgement is a failed attempt, retried. Alarm repeats: a firing "
                "alarm event is delivered again every so many seconds until its incident is "
                "resolved.",
            },
        ),
        ("Record", {"fields": ["id", "created", "updated"]}),
    ]

    def get_queryset(self, request) -> QuerySet[Webhook]:
        # health_rank orders the state column: a CASE over the row's own columns.
        webhooks = cast(WebhookQuerySet, webhooks_with_last_outcome(super().get_queryset(request)))
        return webhooks.with_health_rank()

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
            fieldsets = [fs for fs in fieldsets if fs[0] not in ("Endpoint health", "Record")]
        return fieldsets

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        actor = request_actor(request)
        if db_field.name == "account":
            kwargs["queryset"] = actor.accounts().select_related("domain")
        elif db_field.name == "domain":
            kwargs["queryset"] = actor.domains()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- columns

    created = time_field("created_at", "created")
    updated = time_field("updated_at", "updated")

    @admin.display(description="owner")
    def owner(self, webhook: Webhook) -> str:
        return f"{webhook.account.name} ({webhook.domain.name})"

    @admin.display(description="destination")
    def destination(self, webhook: Webhook) -> str:
        return urlsplit(webhook.payload_url).netloc or webhook.payload_url[:60]

    @admin.display(description="state", ordering="-health_rank")  # the worst first
    def state(self, webhook: Webhook) -> str:
        reason, since = state_detail(webhook)
        badge = state_badge(webhook.health, title=state_title(reason, since))
        if since is None:
            return badge
        return format_html(
            '{} <span class="state-since">for {}</span>', badge, span(since, timezone.now())
        )

    @admin.display(description=f"last {HEALTH_WINDOW.total_seconds() / 3600:g} h")
    def health(self, webhook: Webhook) -> str:
        counts: WindowCounts = getattr(webhook, "window_counts", WindowCounts())
        finished = counts.succeeded + counts.failed
        rate = f"{100 * counts.succeeded / finished:.0f} % ok" if finished else "no outcome"
        return format_html(
            '<span class="health health-{}" style="color:{}">{}</span> · {} · {}',
            counts.health,
            HEALTH_COLOURS[counts.health],
            counts.health,
            rate,
            counted(counts.total, "delivery", "deliveries"),
        )

    @admin.display(description="last outcome")
    def last_outcome(self, webhook: WithAnnotations[Webhook, LastOutcome]) -> str:
        if not webhook.h_last_status:
            return "-"
        return format_html("{} {}", status_badge(webhook.h_last_status), moment(webhook.h_last_at))

    @admin.display(description="effective (what the workers use)")
    def effective_delivery(self, webhook: Webhook) -> str:
        if not webhook.pk:
            return (
                "Empty fields take the domain's setting (or a parent domain's), else the default."
            )
        timeout = webhook_effective(webhook, "timeout")
        attempts = webhook_effective(webhook, "max_attempts")
        return format_html(
            '<span class="effective-timeout">timeout {} s, {}</span>; '
            '<span class="effective-attempts">{} attempts, {}</span>',
            f"{timeout.value:g}",
            timeout.label,
            attempts.value,
            attempts.label,
        )

    @admin.display(description="signing secret")
    def secret_status(self, webhook: Webhook) -> str:
        # An unsaved webhook has its pk already (a uuid7 default): ask the state.
        if webhook._state.adding:
            return "Generated when the webhook is saved, and shown once."
        if not webhook.secret:
            return "None: requests are not signed."
        text = "Set (shown only when created or rotated)."
        expires = webhook.previous_secret_expires_at
        if webhook.previous_secret and expires and expires > timezone.now():
            return format_html("{} The previous secret also signs until {}.", text, moment(expires))
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
            # As the API's PATCH does: from the row as stored (the form has
            # already set its values on `obj`). Re-enabling is resuming (held
            # deliveries released), before the update, within the admin's
            # transaction; the update writes only what the form edits, never
            # the secret or health columns: a rotation or a worker's write
            # that lands while the form is open is not undone by it.
            changes = form.written()
            stored = Webhook.objects.select_related("account", "domain").get(pk=obj.pk)
            if not stored.enabled and changes["enabled"]:
                stored = webhook_resume(webhook=stored, now=timezone.now())
            updated = webhook_update(actor=actor, webhook=stored, **changes)
            vars(obj).update(vars(updated))
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

    # Deleting goes through deliveries.teardown, as the API's does: the
    # deliveries in bounded batches, whatever the workers are doing, after
    # the same scope rule as any change (a domain admin cannot delete a root
    # admin's global webhook homed in their subtree).
    def delete_model(self, request, obj: Webhook) -> None:
        self._check_may_delete(request, [obj])
        teardown.webhook_delete(webhook=obj)

    def delete_queryset(self, request, queryset: QuerySet[Webhook]) -> None:
        webhooks = list(queryset.select_related("account", "domain"))
        self._check_may_delete(request, webhooks)
        teardown.webhooks_delete(Webhook.objects.filter(id__in=[w.id for w in webhooks]))

    def _check_may_delete(self, request, webhooks: list[Webhook]) -> None:
        actor = request_actor(request)
        for webhook in webhooks:
            webhook_check_scope(
                actor=actor, scope=webhook.scope, account=webhook.account, domain=webhook.domain
            )

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
                resumable=resumable(webhook, now=now),
            )
        return super().change_view(request, object_id, form_url, extra_context)
