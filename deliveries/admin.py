"""The operations console: webhooks with their health, events, deliveries and
attempts, and the actions an operator needs to fix things.

Big tables (deliveries, attempts, events) are history: read-only, listed
newest first through an index, and never counted whole (CappedPaginator). Every
page is tenant-aware through hooks.admin.TenantAdmin.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from functools import cached_property
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince
from rest_framework.exceptions import PermissionDenied as ScopeDenied

from deliveries import teardown
from deliveries.charts import activity_svg
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from deliveries.pipeline.operator import (
    DeliveryInFlight,
    deliveries_recover,
    deliveries_requeue,
    delivery_redeliver,
    webhook_test_send,
)
from deliveries.selectors import (
    HEALTH_WINDOW,
    Health,
    WindowCounts,
    webhook_activity,
    webhook_health,
    webhooks_in_health,
    webhooks_with_last_outcome,
)
from hooks.admin import TenantAdmin, request_actor
from hooks.models import Scope, Webhook
from hooks.services import generate_secret, webhook_rotate_secret

# A test delivery is sent from the web process while the operator waits.
TEST_SEND_MAX = 10
STATUS_COLOURS = {
    DeliveryStatus.SUCCEEDED: "#2e7d32",
    DeliveryStatus.FAILED: "#c62828",
    DeliveryStatus.PENDING: "#6d6d6d",
    DeliveryStatus.SENDING: "#1565c0",
}
HEALTH_COLOURS = {
    Health.HEALTHY: "#2e7d32",
    Health.DEGRADED: "#ef6c00",
    Health.FAILING: "#c62828",
    Health.IDLE: "#6d6d6d",
}


def status_badge(status: str) -> str:
    return format_html(
        '<strong class="status status-{}" style="color:{}">{}</strong>',
        status,
        STATUS_COLOURS.get(status, "inherit"),
        status,
    )


def pretty_json(value) -> str:
    # Keys in their own order: an envelope reads as it was sent.
    return json.dumps(value, indent=2, ensure_ascii=False)


class CappedPaginator(Paginator):
    """Counts at most CAP + 1 rows: `SELECT COUNT(*) FROM (… LIMIT CAP+1)`.

    On a table of millions, a full COUNT(*) is the slowest query of a list
    page; an operator needs the first pages and to know there are many more.
    The pagination template says "more than CAP" when the cap is reached.
    """

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.CAP


class InputFilter(admin.SimpleListFilter):
    """A free-text list filter: on millions of rows, listing every distinct
    value to click on would itself be a full scan."""

    template = "admin/deliveries/input_filter.html"

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


class HealthFilter(admin.SimpleListFilter):
    title = f"health (last {HEALTH_WINDOW.total_seconds() / 3600:g} h)"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return Health.CHOICES

    def queryset(self, request, queryset):
        value = self.value()
        if value not in dict(Health.CHOICES):
            return queryset
        return webhooks_in_health(queryset, value, now=timezone.now())


# --- webhooks -------------------------------------------------------------------


class PatternsField(forms.CharField):
    """Event type patterns as text, one per line (or separated by commas)."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(value)
        return value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


class WebhookForm(forms.ModelForm):
    actor = None  # set per request by WebhookAdmin.get_form

    event_types = PatternsField(
        required=False,
        help_text="Event types, one per line: exact names or with '*' (VM.*). "
        "Empty: every event type.",
    )
    new_auth_password = forms.CharField(
        label="Listener password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="HTTP basic auth password. Never shown back; leave empty to keep the "
        "current one.",
    )
    clear_auth_password = forms.BooleanField(label="Remove the listener password", required=False)

    class Meta:
        model = Webhook
        fields = [
            "name",
            "description",
            "enabled",
            "scope",
            "account",
            "domain",
            "payload_url",
            "event_types",
            "ssl_verification",
            "header_style",
            "headers",
            "auth_username",
            "timeout",
            "max_attempts",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "domain" not in self.fields:
            return  # a view-only form: every field is read-only
        self.fields["ssl_verification"].label = "Verify TLS certificate"
        self.fields["domain"].required = False
        self.fields["domain"].help_text = (
            "Owner domain; for domain scope, the subtree whose events are sent. "
            "Empty: the account's domain."
        )
        if not self.instance.pk or not self.instance.auth_password:
            del self.fields["clear_auth_password"]

    def clean(self):
        data = super().clean()
        account, domain = data.get("account"), data.get("domain")
        if account is not None and domain is None:
            data["domain"] = domain = account.domain
        if account is not None and self.actor is not None:
            try:
                self.actor.check_webhook_scope(
                    scope=data.get("scope"), account=account, domain=domain
                )
            except ScopeDenied as exc:
                raise ValidationError({"scope": str(exc.detail)}) from None
        if data.get("new_auth_password"):
            self.instance.auth_password = data["new_auth_password"]
        elif data.get("clear_auth_password"):
            self.instance.auth_password = ""
        return data


class WebhookChangeList(ChangeList):
    """Health counts for the page's webhooks only, in one grouped query."""

    def get_results(self, request):
        super().get_results(request)
        webhooks = list(self.result_list)  # evaluated once; the template reuses it
        counts = webhook_health([w.pk for w in webhooks], now=timezone.now())
        for webhook in webhooks:
            webhook.window_counts = counts.get(webhook.pk, WindowCounts())


@admin.register(Webhook)
class WebhookAdmin(TenantAdmin):
    form = WebhookForm
    change_form_template = "admin/deliveries/webhook/change_form.html"
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

    def delete_model(self, request, obj):
        # Deliveries in bounded batches, whatever the workers do (teardown).
        teardown.webhook_delete(webhook=obj)

    def delete_queryset(self, request, queryset):
        teardown.webhooks_delete(queryset)

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
    def last_outcome(self, webhook: Webhook) -> str:
        if not webhook.h_last_status:
            return "-"
        when = webhook.h_last_at
        ago = f"{timesince(when)} ago" if when else ""
        return format_html("{} {}", status_badge(webhook.h_last_status), ago)

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

    def _report_skipped(self, request, selected: int, acted: int) -> None:
        if acted < selected:
            self.message_user(
                request,
                f"{selected - acted} global webhook(s) left alone: only root admins act on them.",
                messages.WARNING,
            )

    # --- saving

    # A save writes what the form edits, never the secret columns: a rotation
    # that lands while the form is open must not be undone by it.
    SAVED_ON_CHANGE = [
        f.name
        for f in Webhook._meta.concrete_fields
        if f.name
        not in {"id", "created_at", "secret", "previous_secret", "previous_secret_expires_at"}
    ]

    def save_model(self, request, obj: Webhook, form, change: bool) -> None:
        if not change:
            # The secret is made here and shown once, in the message below.
            obj.secret = generate_secret()
            request._new_secret = obj.secret
            obj.save()
        else:
            obj.save(update_fields=self.SAVED_ON_CHANGE)

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

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/rotate-secret/",
                self.admin_site.admin_view(self.rotate_secret_view),
                name=f"{info}_rotate_secret",
            ),
            path(
                "<path:object_id>/test/",
                self.admin_site.admin_view(self.test_view),
                name=f"{info}_test",
            ),
            *super().get_urls(),
        ]

    def _webhook_to_act_on(self, request, object_id) -> Webhook:
        webhook = get_object_or_404(self.get_queryset(request), pk=_uuid_or_404(object_id))
        if not self.may_manage(request, webhook):
            raise PermissionDenied("Only root admins act on global webhooks.")
        return webhook

    def rotate_secret_view(self, request, object_id):
        webhook = self._webhook_to_act_on(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "webhook": webhook,
            "title": f"Rotate the signing secret of {webhook.name}",
            "overlap_hours": _overlap_hours(),
        }
        if request.method == "POST":
            webhook = webhook_rotate_secret(webhook=webhook)
            context.update(new_secret=webhook.secret, title=f"New signing secret of {webhook}")
            self.log_change(request, webhook, "Rotated the signing secret.")
        elif request.method != "GET":
            return HttpResponseNotAllowed(["GET", "POST"])
        return TemplateResponse(request, "admin/deliveries/webhook/rotate_secret.html", context)

    def test_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        webhook = self._webhook_to_act_on(request, object_id)
        self._report_test(request, webhook)
        return HttpResponseRedirect(
            reverse(
                "admin:hooks_webhook_change", args=[webhook.pk], current_app=self.admin_site.name
            )
        )

    def _report_test(self, request, webhook: Webhook) -> None:
        response = webhook_test_send(webhook=webhook)
        if response.ok:
            self.message_user(
                request,
                f"Test delivery to “{webhook.name}”: HTTP {response.status_code} "
                f"in {response.duration_ms} ms.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                f"Test delivery to “{webhook.name}” failed: {response.summary} "
                f"after {response.duration_ms} ms.",
                messages.ERROR,
            )

    # --- list actions

    @admin.action(description="Enable selected webhooks")
    def enable(self, request, queryset):
        chosen = self.manageable(request, queryset)
        count = Webhook.objects.filter(pk__in=chosen.values("pk")).update(
            enabled=True, updated_at=timezone.now()
        )
        self.message_user(request, f"Enabled {count} webhook(s).", messages.SUCCESS)
        self._report_skipped(request, queryset.count(), count)

    @admin.action(description="Disable selected webhooks")
    def disable(self, request, queryset):
        chosen = self.manageable(request, queryset)
        count = Webhook.objects.filter(pk__in=chosen.values("pk")).update(
            enabled=False, updated_at=timezone.now()
        )
        self.message_user(request, f"Disabled {count} webhook(s).", messages.SUCCESS)
        self._report_skipped(request, queryset.count(), count)

    @admin.action(description="Send a test delivery to selected webhooks")
    def send_test_delivery(self, request, queryset):
        webhooks = list(self.manageable(request, queryset)[: TEST_SEND_MAX + 1])
        if len(webhooks) > TEST_SEND_MAX:
            self.message_user(
                request,
                f"Select at most {TEST_SEND_MAX} webhooks: each test is sent while you wait.",
                messages.ERROR,
            )
            return
        for webhook in webhooks:
            self._report_test(request, webhook)
        self._report_skipped(request, queryset.count(), len(webhooks))

    @admin.action(description="Redeliver failed deliveries of the last 24 h")
    def redeliver_failed(self, request, queryset):
        until = timezone.now()
        since = until - dt.timedelta(hours=24)
        total = acted = 0
        for webhook in self.manageable(request, queryset):
            total += deliveries_recover(webhook=webhook, since=since, until=until)
            acted += 1
        self.message_user(
            request,
            f"Queued {total} failed deliveries of the last 24 h for another attempt.",
            messages.SUCCESS,
        )
        self._report_skipped(request, queryset.count(), acted)


def _overlap_hours() -> float:
    return settings.WEBHOOK_SECRET_ROTATION_OVERLAP / 3600


def _uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Http404("No such object.") from None


# --- history: events, deliveries, attempts ----------------------------------------


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
    change_form_template = "admin/deliveries/event/change_form.html"
    list_display = ["created_at", "type", "id", "account", "domain", "resource"]
    list_filter = [EventTypeFilter, ("created_at", admin.DateFieldListFilter)]
    # An account prints with its domain's name.
    list_select_related = ["account__domain", "domain"]
    search_fields = ["id"]  # shows the search box; get_search_results does the work
    search_help_text = "An event id."
    ordering = ["-created_at"]
    sortable_by = ["created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("data")

    def search_q(self, wanted):
        return Q(pk=wanted)

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
    change_form_template = "admin/deliveries/delivery/change_form.html"
    account_field = "webhook__account"
    domain_field = "webhook__domain"
    list_display = [
        "created_at",
        "status_column",
        "webhook",
        "event_type",
        "attempts",
        "last_status_code",
        "duration",
        "next_attempt_at",
        "finished_at",
    ]
    list_display_links = ["created_at"]
    list_filter = [
        "status",
        WebhookFilter,
        DeliveryEventTypeFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["event__id"]
    search_help_text = "An event id or a delivery id."
    ordering = ["-created_at"]
    sortable_by = ["created_at"]
    actions = ["redeliver", "delete_selected"]

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
    def duration(self, delivery: Delivery) -> str:
        ms = delivery.last_duration_ms
        return "-" if ms is None else f"{ms} ms"

    @admin.action(description="Redeliver selected deliveries (queued for the workers)")
    def redeliver(self, request, queryset):
        selected = list(self.actionable(request, queryset).values_list("pk", flat=True))
        count = deliveries_requeue(selected)
        skipped = len(selected) - count
        text = f"Queued {count} deliveries for another attempt."
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
        # A delivery a worker holds right now is left alone: its result must
        # find its row.
        self.actionable(request, queryset).exclude(status=DeliveryStatus.SENDING).delete()

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
        delivery = get_object_or_404(self.get_queryset(request), pk=_uuid_or_404(object_id))
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
        "started_at",
        "delivery",
        "number",
        "duration_ms",
        "response_status",
        "error_class",
    ]
    ordering = ["-started_at"]
    sortable_by = ["started_at"]
    search_fields = ["delivery__event__id"]
    exclude = ["request_headers", "response_headers"]

    def search_q(self, wanted):
        return Q(delivery__event_id=wanted) | Q(delivery_id=wanted)

    def has_module_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
