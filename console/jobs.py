"""Bulk jobs in the console: the page that shows a job's progress, and the
helper the delivery list's actions use to start one.

An action over "all N matching" deliveries (select across pages) with more
than API_BULK_SYNC_MAX of them starts a job (deliveries/bulk.py) from the
list's filters and takes the operator to the job's page, which reloads
itself until the job is finished.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from console.base import TenantAdmin
from deliveries.bulk import InvalidSelection, bulk_job_start, selection_deliveries
from deliveries.models import BulkJob
from hooks.permissions import request_actor

# The delivery list's query parameters, as the job's selection names them.
FROM_LIST = {
    "status__exact": "status",
    "webhook": "webhook",
    "event_type": "event_type",
    "created_at__gte": "created_after",
    "created_at__lt": "created_before",
}
# Paging, ordering and Django's own: they choose no rows.
IGNORED = {"o", "p", "_facets", "e", "_changelist_filters"}


def _instant(value: str) -> str:
    # The date filter's links give dates ("2026-12-01") or date-times.
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise InvalidSelection(f"{value!r} is not a date.")
        parsed = dt.datetime.combine(day, dt.time(), tzinfo=timezone.get_current_timezone())
    elif timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed.isoformat()


def selection_from_list(params: Any) -> dict[str, Any]:
    """The selection of the delivery list's current filters (a QueryDict)."""
    selection: dict[str, Any] = {}
    for name in params:
        value = params.get(name)
        if name in IGNORED or not value:
            continue
        if name not in FROM_LIST:
            # e.g. a search: it finds a few rows, never thousands.
            raise InvalidSelection(f"A background job cannot use the {name!r} filter.")
        key = FROM_LIST[name]
        if key == "status":
            selection[key] = [value]
        elif key.startswith("created_"):
            selection[key] = _instant(value)
        else:
            selection[key] = value
    return selection


def job_or_none(modeladmin: admin.ModelAdmin, request, queryset, *, kind: str):
    """For an action: start a job and answer the redirect to its page when
    the operator chose all matching rows and they are more than
    API_BULK_SYNC_MAX; None when the action should act at once."""
    limit = settings.API_BULK_SYNC_MAX
    if request.POST.get("select_across") != "1" or queryset[: limit + 1].count() <= limit:
        return None
    actor = request_actor(request)
    try:
        selection = selection_from_list(request.GET)
        if not selection:
            raise InvalidSelection("Narrow the list with a filter first.")
        total = selection_deliveries(actor=actor, selection=selection).count()
    except InvalidSelection as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())
    job = bulk_job_start(kind=kind, actor=actor, selection=selection, total=total)
    modeladmin.message_user(
        request,
        f"{job.get_kind_display()}: {total:,} deliveries, done by the workers in the background.",
        messages.SUCCESS,
    )
    return HttpResponseRedirect(reverse("admin:deliveries_bulkjob_change", args=[job.pk]))


@admin.register(BulkJob)
class BulkJobAdmin(TenantAdmin):
    """A job's page is its progress; jobs are started from the delivery list."""

    change_form_template = "admin/console/bulkjob/change_form.html"
    list_display = ["created_at", "kind", "state", "progress", "affected", "skipped", "created_by"]
    list_filter = ["state", "kind"]
    ordering = ["-created_at"]
    readonly_fields = [
        "kind",
        "state",
        "total",
        "done",
        "affected",
        "skipped",
        "selection",
        "error",
        "created_by",
        "created_at",
        "updated_at",
        "finished_at",
    ]
    fields = tuple(readonly_fields)

    def get_queryset(self, request):
        # Not tenancy's rows: a root admin sees every job, anyone else theirs.
        jobs = BulkJob.objects.select_related("created_by")
        if request_actor(request).is_root:
            return jobs
        return jobs.filter(created_by=request.user)

    @admin.display(description="progress")
    def progress(self, job: BulkJob) -> str:
        return f"{job.done:,} / {job.total:,}"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if job is not None:
            percent = 100 if job.is_finished else int(job.done * 100 / max(job.total, 1))
            extra_context.update(job=job, percent=min(percent, 100))
        return super().change_view(request, object_id, form_url, extra_context)
