"""REST API for bulk jobs (/api/v1/jobs/), and the one rule the bulk
operations of /deliveries/ share: a small selection is acted on in the
request (200, as before), a large one becomes a job (202 with the job, to
poll at its Location)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from deliveries.bulk import bulk_apply, bulk_job_start
from deliveries.models import BulkJob, Delivery
from deliveries.serializers import BulkJobSerializer
from hooks.permissions import ActorMixin, Actor


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
    ActorMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet
):
    serializer_class = BulkJobSerializer
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]

    def get_queryset(self):
        jobs = BulkJob.objects.select_related("created_by")
        if self.actor.is_root:
            return jobs
        return jobs.filter(created_by_id=getattr(self.actor.user, "pk", None))
