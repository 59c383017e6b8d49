"""The record of a bulk job (deliveries/bulk.py runs them): re-exported by
deliveries.models, where Django and the migrations find it."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.ids import uuid7


class BulkJobKind(models.TextChoices):
    RECOVER = "recover", "Recover failed deliveries"
    REQUEUE = "requeue", "Requeue deliveries"
    DELETE = "delete", "Delete deliveries"


class BulkJobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BulkJob(models.Model):
    """An operator's action over many deliveries, done by the workers in
    batches (deliveries/bulk.py). The record is the truth: each batch moves
    `last_id` and the counts in the same transaction as its work, so a worker
    killed mid-job leaves a job that resumes after its last batch."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    kind = models.CharField(max_length=16, choices=BulkJobKind.choices)
    state = models.CharField(
        max_length=16, choices=BulkJobState.choices, default=BulkJobState.QUEUED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Whose view of the deliveries the job acts on (their role, read per batch).",
    )
    selection = models.JSONField(
        default=dict, help_text="The delivery list filters that chose the deliveries."
    )
    total = models.PositiveIntegerField(default=0, help_text="Deliveries to do, counted at start.")
    done = models.PositiveIntegerField(default=0, help_text="Deliveries looked at so far.")
    affected = models.PositiveIntegerField(default=0, help_text="Of those, queued or deleted.")
    skipped = models.PositiveIntegerField(
        default=0, help_text="Of those, left alone: a worker was sending them."
    )
    # Cursor: every chosen delivery with an id up to this one is done.
    last_id = models.UUIDField(null=True, blank=True, editable=False)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Moved by every batch: a running job whose record stopped moving lost its worker.
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "bulk job"
        indexes = [models.Index(fields=["state", "updated_at"], name="bulkjob_state")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.done} of {self.total} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in (BulkJobState.SUCCEEDED, BulkJobState.FAILED)
