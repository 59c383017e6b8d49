"""REST API for bulk jobs (/api/v1/jobs/), and the one rule the bulk
operations of /deliveries/ share: a small selection is acted on in the
request (200, as before), a large one becomes a job (202 with the job, to
poll at its Location)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.throttling import UserRateThrottle

from deliveries.bulk import (
    InvalidSelection,
    bulk_apply,
    bulk_job_start,
    recover_selection,
    selection_deliveries,
    selection_from_params,
)
from deliveries.callhooks.api import CallHookMixin
from deliveries.models import BulkJob, BulkJobKind, Delivery
from deliveries.serializers import BulkJobSerializer, RecoverSerializer
from hooks.permissions import Actor, ActorMixin


def bulk_answer(
    *,
    request: Request,
    actor: Actor,
    kind: str,
    deliveries: QuerySet[Delivery],
    selection: dict[str, Any],
    answer: Callable[[int], dict],
) -> Response:
    """Up to API_BULK_SYNC_MAX deliveries: done now, `answer(count)` with 200.
    More: a job for the workers, 202 with the job and its Location."""
    limit = settings.API_BULK_SYNC_MAX
    if deliveries[: limit + 1].count() <= limit:
        return Response(answer(bulk_apply(kind=kind, deliveries=deliveries)))
    job = bulk_job_start(kind=kind, actor=actor, selection=selection, total=deliveries.count())
    location = reverse("bulkjob-detail", args=[job.pk], request=request)
    return Response(
        BulkJobSerializer(job).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location}
    )


class RecoverThrottle(UserRateThrottle):
    """Bulk recovery can queue a webhook's whole failed history: per user, a
    few calls an hour (API_RECOVER_RATE)."""

    scope = "recover"


def _counted(name: str) -> dict:
    return {"type": "object", "properties": {name: {"type": "integer"}}}


DELETED, REQUEUED = _counted("deleted"), _counted("queued")
RECOVERED = {
    "type": "object",
    "properties": {"count": {"type": "integer"}, "dry_run": {"type": "boolean"}},
}
BULK_FILTERS = [
    OpenApiParameter(name, str, description="As in the delivery list.")
    for name in ("webhook", "event", "event_type", "status", "http_status", "search")
] + [
    OpenApiParameter(name, str, description="ISO 8601, as in the delivery list.")
    for name in ("created_after", "created_before")
]


class BulkActionsMixin:
    """/deliveries/'s bulk operations: delete and requeue by the list
    filters, recover a webhook's failures. For DeliveryViewSet."""

    request: Any
    actor: Actor

    def _bulk(self, kind: str, answer):
        try:
            selection = selection_from_params(self.request.query_params)
            deliveries = selection_deliveries(actor=self.actor, selection=selection)
        except InvalidSelection as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return bulk_answer(
            request=self.request,
            actor=self.actor,
            kind=kind,
            deliveries=deliveries,
            selection=selection,
            answer=answer,
        )

    @extend_schema(
        parameters=BULK_FILTERS,
        responses={200: DELETED, 202: BulkJobSerializer},
        summary="Delete deliveries matching filters",
        description="Delete the deliveries matching the list filters (at least one is "
        "required), with their attempts. Deliveries being sent right now are left alone. "
        'Up to API_BULK_SYNC_MAX (1,000) are deleted at once: 200 `{"deleted": n}`; '
        "more become a bulk job: 202 with the job (poll `GET /jobs/{id}/`).",
    )
    @action(detail=False, methods=["delete"], url_path="bulk")
    def bulk_delete(self, request):
        return self._bulk(BulkJobKind.DELETE, lambda count: {"deleted": count})

    @extend_schema(
        request=None,
        parameters=BULK_FILTERS,
        responses={200: REQUEUED, 202: BulkJobSerializer},
        summary="Requeue deliveries matching filters",
        description="Queue the deliveries matching the list filters (at least one is "
        "required) for one more attempt by the workers, now, whatever their outcome so far. "
        "Deliveries being sent right now are left alone. Up to API_BULK_SYNC_MAX (1,000) "
        'are queued at once: 200 `{"queued": n}`; more become a bulk job: 202 with the job.',
    )
    @action(detail=False, methods=["post"])
    def requeue(self, request):
        return self._bulk(BulkJobKind.REQUEUE, lambda count: {"queued": count})

    @extend_schema(
        request=RecoverSerializer,
        responses={200: RECOVERED, 202: BulkJobSerializer},
        summary="Recover a webhook's failed deliveries",
        description="Queue every failed delivery of a webhook created in [since, until) "
        "for one more attempt (`dry_run`: only count them). Up to API_BULK_SYNC_MAX (1,000) "
        'are queued at once: 200 `{"count": n, "dry_run": false}`; more become a bulk '
        "job: 202 with the job (poll `GET /jobs/{id}/`). Rate-limited (API_RECOVER_RATE).",
    )
    @action(
        detail=False,
        methods=["post"],
        throttle_classes=[RecoverThrottle],
    )
    def recover(self, request):
        serializer = RecoverSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        selection = recover_selection(
            webhook_id=data["webhook"].pk, since=data["since"], until=data["until"]
        )
        deliveries = selection_deliveries(actor=self.actor, selection=selection)
        if data["dry_run"]:
            return Response({"count": deliveries.count(), "dry_run": True})
        return bulk_answer(
            request=request,
            actor=self.actor,
            kind=BulkJobKind.RECOVER,
            deliveries=deliveries,
            selection=selection,
            answer=lambda count: {"count": count, "dry_run": False},
        )


@extend_schema_view(
    list=extend_schema(
        summary="List bulk jobs",
        description="Bulk recover, requeue and delete jobs, newest first: a root admin's "
        "list holds everyone's, anyone else's their own.",
    ),
    retrieve=extend_schema(
        summary="Read a bulk job (poll its progress)",
        description="`done` of `total` deliveries looked at so far; `affected` of them "
        "queued or deleted, `skipped` left alone because a worker was sending them. "
        "`state`: queued, running, succeeded or failed (`error` says why).",
    ),
)
class BulkJobViewSet(
    # Read-only: hooked like every routed viewset, nothing here is a call.
    CallHookMixin,
    ActorMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = BulkJobSerializer
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]

    def get_queryset(self):
        jobs = BulkJob.objects.select_related("created_by")
        if self.actor.is_root:
            return jobs
        return jobs.filter(created_by_id=getattr(self.actor.user, "pk", None))
