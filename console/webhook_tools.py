"""The operator's tools on webhooks: the test, resume and rotate-secret
buttons of a webhook's page, and the list actions (resume, enable, disable,
test, redeliver the failed), each acting only on the webhooks the actor may
manage.

Resuming and enabling go through deliveries.pipeline.health.webhook_resume,
as the API's resume and its PATCH `enabled: true` do: the circuit closed,
throttling and failures forgotten, the webhook enabled, its held deliveries
due now (drained at its sending limit), `webhook.recovered` published.
Disabling is hooks.services' (what PATCH `enabled: false` writes): its
deliveries are then held.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from console.base import counted, uuid_or_404
from console.forms import TestOverridesForm
from deliveries.bulk import bulk_apply, bulk_job_start, recover_selection, selection_deliveries
from deliveries.models import BulkJobKind
from deliveries.pipeline.health import webhook_resume
from deliveries.pipeline.operator import webhook_test_send
from deliveries.selectors import HELD_COUNT_CAP, webhook_held_count
from hooks.health import Health
from hooks.models import Webhook
from hooks.permissions import request_actor
from hooks.services import webhook_rotate_secret, webhooks_set_enabled

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest

    # Mixed into a ModelAdmin (WebhookAdmin): the checker sees the admin's methods.
    _Admin = admin.ModelAdmin
else:
    _Admin = object

# A test delivery is sent from the web process while the operator waits.
TEST_SEND_MAX = 10


def resumable(webhook: Webhook, *, now: dt.datetime) -> bool:
    """Whether resuming would change anything (webhook_resume leaves a healthy,
    unheld webhook as it is)."""
    return webhook.health != Health.HEALTHY or webhook.is_held(now=now)


class WebhookTools(_Admin):
    """For WebhookAdmin (console.webhooks), whose get_queryset, manageable
    and may_manage say which webhooks the actor may act on."""

    if TYPE_CHECKING:

        def manageable(
            self, request: HttpRequest, webhooks: QuerySet[Webhook]
        ) -> QuerySet[Webhook]: ...

        def may_manage(self, request: HttpRequest, webhook: Webhook | None) -> bool: ...

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
            path(
                "<path:object_id>/resume/",
                self.admin_site.admin_view(self.resume_view),
                name=f"{info}_resume",
            ),
            *super().get_urls(),
        ]

    def _webhook_to_act_on(self, request, object_id) -> Webhook:
        webhook = get_object_or_404(self.get_queryset(request), pk=uuid_or_404(object_id))
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
            "overlap_hours": settings.WEBHOOK_SECRET_ROTATION_OVERLAP / 3600,
        }
        if request.method == "POST":
            webhook = webhook_rotate_secret(webhook=webhook)
            context.update(new_secret=webhook.secret, title=f"New signing secret of {webhook}")
            self.log_change(request, webhook, "Rotated the signing secret.")
        elif request.method != "GET":
            return HttpResponseNotAllowed(["GET", "POST"])
        return TemplateResponse(request, "admin/console/webhook/rotate_secret.html", context)

    def test_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        webhook = self._webhook_to_act_on(request, object_id)
        overrides = TestOverridesForm(request.POST)
        if overrides.is_valid():
            self._report_test(request, webhook, **overrides.overrides())
        else:
            problems = "; ".join(
                f"{k}: {' '.join(map(str, v))}" for k, v in overrides.errors.items()
            )
            self.message_user(request, f"Test not sent: {problems}", messages.ERROR)
        return HttpResponseRedirect(
            reverse(
                "admin:hooks_webhook_change", args=[webhook.pk], current_app=self.admin_site.name
            )
        )

    def resume_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        webhook = self._webhook_to_act_on(request, object_id)
        self._resume(request, [webhook], verb="Resumed")
        return HttpResponseRedirect(
            reverse(
                "admin:hooks_webhook_change", args=[webhook.pk], current_app=self.admin_site.name
            )
        )

    def _resume(self, request, webhooks, *, verb: str) -> int:
        """Resume each of these webhooks that is not healthy or is held, and
        say how many were and how many held deliveries are sent again."""
        now = timezone.now()
        resumed = released = 0
        capped = False
        for webhook in webhooks:
            if not resumable(webhook, now=now):
                continue
            # Counted first, as the page shows them: the pending deliveries
            # that were waiting for this endpoint and are now sent to it.
            held = webhook_held_count(webhook, now=now)
            capped |= held >= HELD_COUNT_CAP
            was = Health(webhook.health).label.lower()
            webhook_resume(webhook=webhook, now=now)
            self.log_change(request, webhook, f"Resumed (was {was}); {held} held deliveries.")
            resumed += 1
            released += held
        left = len(webhooks) - resumed
        if resumed or not left:
            more = "+" if capped else ""
            self.message_user(
                request,
                f"{verb} {counted(resumed, 'webhook')}; "
                f"{counted(released, 'held delivery', 'held deliveries')}{more} released, "
                "sent at each webhook's sending limit.",
                messages.SUCCESS,
            )
        if left:
            self.message_user(
                request,
                f"{counted(left, 'webhook')} already healthy and sending: left as "
                f"{'it was' if left == 1 else 'they were'}.",
                messages.INFO,
            )
        return resumed

    def _report_test(self, request, webhook: Webhook, **overrides) -> None:
        response = webhook_test_send(webhook=webhook, **overrides)
        where = f" at {overrides['payload_url']}" if overrides.get("payload_url") else ""
        if response.ok:
            self.message_user(
                request,
                f"Test delivery to “{webhook.name}”{where}: HTTP {response.status_code} "
                f"in {response.duration_ms} ms.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                f"Test delivery to “{webhook.name}”{where} failed: {response.summary} "
                f"after {response.duration_ms} ms.",
                messages.ERROR,
            )

    def _report_skipped(self, request, selected: int, acted: int) -> None:
        if acted < selected:
            self.message_user(
                request,
                f"{counted(selected - acted, 'global webhook')} left alone: "
                "only root admins act on them.",
                messages.WARNING,
            )

    # --- list actions

    @admin.action(description="Resume selected webhooks (close the circuit, enable, send the held)")
    def resume(self, request, queryset):
        webhooks = list(self.manageable(request, queryset).select_related("account", "domain"))
        self._resume(request, webhooks, verb="Resumed")
        self._report_skipped(request, queryset.count(), len(webhooks))

    @admin.action(description="Enable selected webhooks (and send the held)")
    def enable(self, request, queryset):
        # Enabling is resuming the disabled ones, as PATCH `enabled: true` is;
        # an enabled webhook is left as it is (even with its circuit open:
        # that is what Resume is for).
        webhooks = list(self.manageable(request, queryset).select_related("account", "domain"))
        disabled = [webhook for webhook in webhooks if not webhook.enabled]
        self._resume(request, disabled, verb="Enabled")
        if len(disabled) < len(webhooks):
            self.message_user(
                request,
                f"{counted(len(webhooks) - len(disabled), 'webhook')} already enabled: left as "
                f"{'it was' if len(webhooks) - len(disabled) == 1 else 'they were'}.",
                messages.INFO,
            )
        self._report_skipped(request, queryset.count(), len(webhooks))

    @admin.action(description="Disable selected webhooks")
    def disable(self, request, queryset):
        count = webhooks_set_enabled(actor=request_actor(request), webhooks=queryset, enabled=False)
        self.message_user(request, f"Disabled {counted(count, 'webhook')}.", messages.SUCCESS)
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
        # A webhook's failures up to API_BULK_SYNC_MAX are queued at once;
        # more become a background job, with a page showing its progress.
        until = timezone.now()
        since = until - dt.timedelta(hours=24)
        actor = request_actor(request)
        limit = settings.API_BULK_SYNC_MAX
        total = acted = 0
        jobs = []
        for webhook in self.manageable(request, queryset):
            selection = recover_selection(webhook_id=webhook.pk, since=since, until=until)
            failed = selection_deliveries(actor=actor, selection=selection)
            if failed[: limit + 1].count() > limit:
                jobs.append(
                    bulk_job_start(kind=BulkJobKind.RECOVER, actor=actor, selection=selection)
                )
            else:
                total += bulk_apply(kind=BulkJobKind.RECOVER, deliveries=failed)
            acted += 1
        self.message_user(
            request,
            f"Queued {counted(total, 'failed delivery', 'failed deliveries')} of the last 24 h "
            "for another attempt.",
            messages.SUCCESS,
        )
        for job in jobs:
            url = reverse("admin:deliveries_bulkjob_change", args=[job.pk])
            self.message_user(
                request,
                format_html(
                    '{} of {:,} deliveries runs in the background: <a href="{}">its progress</a>.',
                    job.get_kind_display(),
                    job.total,
                    url,
                ),
                messages.SUCCESS,
            )
        self._report_skipped(request, queryset.count(), acted)
