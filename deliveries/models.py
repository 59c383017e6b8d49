"""Three record levels: the event (payload stored once), the delivery (one per
webhook per event), the attempt (one per try).

The delivery row is the source of truth for what must be sent and when; a
Celery message only wakes a worker up to look at it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from core import jsontext
from core.ids import uuid7
from deliveries.bulk_models import BulkJob as BulkJob
from deliveries.bulk_models import BulkJobKind as BulkJobKind
from deliveries.bulk_models import BulkJobState as BulkJobState
from hooks.models import Account, Domain, Webhook


class IncidentState(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class Event(models.Model):
    id = models.UUIDField(
        primary_key=True,
        default=uuid7,
        editable=False,
        help_text="Given by the producer or generated. Publishing an id again is not a new event.",
    )
    type = models.CharField(max_length=128, help_text="e.g. VM.CREATE")
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    domain = models.ForeignKey(
        Domain, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    # Who did it, as the producer's system names them (MyCloudIT's UserId,
    # Xen Orchestra's userId/userName): text, not a foreign key, since the
    # actor is often a user of the producer's, not a login here. On whose
    # behalf is `account` (MyCloudIT's CustomerId).
    actor_id = models.CharField(
        max_length=255, blank=True, help_text="Who acted: a user id. Empty: no one said."
    )
    actor_name = models.CharField(
        max_length=255, blank=True, help_text="Who acted: a login or e-mail address."
    )
    resource_id = models.CharField(max_length=255, blank=True)
    resource_type = models.CharField(max_length=128, blank=True)
    data = models.JSONField(default=dict, help_text="The action data, a JSON object.")
    # What is delivered: `data` as the producer wrote it (core.jsontext). The
    # jsonb column above is for filtering and the console; PostgreSQL rewrites
    # its numbers and key order, so it is never what a receiver gets. Empty
    # for events stored before this column existed (their `data` is used).
    data_json = models.TextField(
        blank=True,
        editable=False,
        help_text="The data as published (JSON text): numbers and key order as sent.",
    )
    occurred_at = models.DateTimeField(help_text="When it happened, as the producer says.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Alarms (deliveries/alarms.py): the events of one incident share a key in
    # their account; the newest says whether it is firing or resolved.
    incident_key = models.CharField(
        max_length=255,
        blank=True,
        help_text="Names the incident (alarm) this event is about, within its account.",
    )
    incident_state = models.CharField(
        max_length=8,
        choices=IncidentState.choices,
        blank=True,
        help_text="firing or resolved; empty for events that are not about an incident.",
    )

    class Meta:
        indexes = [
            # The console's event type filter, newest first.
            models.Index(fields=["type", "-created_at"], name="event_type_recent"),
            # An incident's events, newest first (alarms.py: is this event
            # still the latest of its key?). Partial: events without a key,
            # nearly all of them, are not in it and cost it nothing.
            models.Index(
                fields=["incident_key", "-created_at"],
                name="event_incident",
                condition=~Q(incident_key=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    @property
    def data_text(self) -> str:
        """The JSON text of `data` that receivers get."""
        return self.data_json or jsontext.dumps(self.data)

    @property
    def actor(self) -> dict[str, str] | None:
        """Who acted, as the envelope says it; None when no one said."""
        if not (self.actor_id or self.actor_name):
            return None
        return {"id": self.actor_id, "name": self.actor_name}

    def envelope(self) -> dict:
        """The JSON document POSTed to receivers. Its shape is the public contract."""
        return {
            "id": str(self.id),
            "type": self.type,
            "timestamp": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "account": str(self.account_id) if self.account_id else None,
            "domain": str(self.domain_id) if self.domain_id else None,
            "resource": (
                {"id": self.resource_id, "type": self.resource_type}
                if self.resource_id or self.resource_type
                else None
            ),
            # Added after the first release: new members go before `data`,
            # which stays last (the body builder splices its text there).
            "actor": self.actor,
            **(
                {"incident": {"key": self.incident_key, "state": self.incident_state}}
                if self.incident_key
                else {}
            ),
            "data": self.data,
        }


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


FINISHED = (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED)


class Delivery(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # No index of their own: every claim and record writes each index of this
    # table, and these two lead the unique (event, webhook) constraint and
    # delivery_webhook_recent, which answer the same lookups.
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    webhook = models.ForeignKey(
        Webhook, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts started so far.")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a pending delivery is due; empty once finished."
    )
    # Claim: a worker sets status=sending, a fresh token and a lease in one
    # conditional UPDATE. Results are written only where the token still
    # matches, so a worker whose lease ran out cannot overwrite a newer try.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When the Celery message last sent for this delivery is due to run; empty
    # when none is in flight. The sweeper re-queues a due delivery whose
    # message is missing or long overdue (lost enqueue, flushed Redis).
    message_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Alarm repeats (deliveries/alarms.py): the same event sent again to the
    # same webhook is a delivery of its own, with its own attempts and
    # session id, numbered from 1.
    repeat = models.PositiveSmallIntegerField(
        default=0, help_text="0: the event's delivery; n: its nth alarm repeat."
    )

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["event", "webhook", "repeat"], name="delivery_one_per_webhook_repeat"
            ),
        ]
        indexes = [
            # The sweeper's two questions, each answered from a small partial index.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_pending_due",
                condition=Q(status=DeliveryStatus.PENDING),
            ),
            # What is being sent: per webhook for the claim's sending limit
            # (claim.py counts a webhook's rows here), by lease for the sweeper.
            # Small: it holds only the deliveries in flight.
            models.Index(
                fields=["webhook", "lease_expires_at"],
                name="delivery_sending",
                condition=Q(status=DeliveryStatus.SENDING),
            ),
            models.Index(
                fields=["claim_token"],
                name="delivery_claim",
                condition=Q(claim_token__isnull=False),
            ),
            # A webhook's recent deliveries (listing, purge's keep-newest-N); with
            # the status, the console's health counts never touch the table.
            models.Index(
                fields=["webhook", "-created_at", "status"], name="delivery_webhook_recent"
            ),
            # The console's list, newest first as the admin orders it (-created_at,
            # -pk): without it, every list page sorts the whole table.
            models.Index(fields=["-created_at", "-id"], name="delivery_recent"),
            # The console's status filter, for finished rows. Not for rows being
            # sent (few, and delivery_sending has them): each claim would add an
            # entry here, and the claim's in-flight counts, planned on this
            # index, read every dead one of them (a third of a claim's
            # database time). Not for waiting rows either (delivery_pending_due
            # has them): every published delivery paid an entry here, and the
            # claim's top-up, planned on it from statistics that counted few
            # waiting rows, read and sorted every one of them.
            models.Index(
                fields=["status", "-created_at"],
                name="delivery_status_recent",
                condition=~Q(status__in=[DeliveryStatus.SENDING, DeliveryStatus.PENDING]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.webhook_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def message_id(self) -> str:
        """The id receivers deduplicate on (webhook-id): the event's, the same
        on every retry; an alarm repeat is a new message, `<event id>.r<n>`."""
        return f"{self.event_id}.r{self.repeat}" if self.repeat else str(self.event_id)


class DeliveryAttempt(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # Indexed by attempt_by_delivery, which it leads.
    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempt_set", db_index=False
    )
    number = models.PositiveIntegerField(help_text="1 for the first try.")
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    url = models.CharField(max_length=2048)
    request_headers = models.JSONField(
        default=dict, help_text="As sent, with credentials redacted."
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict)
    # Bytes, as received (never decoded: see deliveries/http.py). A receiver
    # may answer anything, gzip included, and PostgreSQL text refuses 0x00.
    response_body = models.BinaryField(
        blank=True, default=b"", help_text="As received, capped at WEBHOOK_RESPONSE_BODY_MAX."
    )
    response_truncated = models.BooleanField(default=False)
    error_class = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    worker = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The process that sent it, host:pid (CloudStack's management server); "
        "empty when no worker reported (a claim that expired).",
    )

    class Meta:
        ordering = ["number"]
        # No index on worker: one more index written per attempt is hot-path
        # cost. The deliveries list's ?worker= filter probes each recent
        # delivery's attempts through attempt_by_delivery, within the
        # bounded window of deliveries/search.py.
        indexes = [models.Index(fields=["delivery", "number"], name="attempt_by_delivery")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"

    @property
    def body_bytes(self) -> bytes:
        return bytes(self.response_body or b"")

    @property
    def body_is_text(self) -> bool:
        try:
            self.body_bytes.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    @property
    def body_display(self) -> str:
        """The body for people: its text when it is UTF-8, else escaped (`\\x1f\\x8b…`)."""
        body = self.body_bytes
        if self.body_is_text:
            return body.decode("utf-8")
        return repr(body)[2:-1]  # bytes' own escapes: printable ASCII as is, the rest \\xNN

    @property
    def content_type(self) -> str:
        return (self.response_headers or {}).get("content-type", "")


class HeartbeatKind(models.TextChoices):
    WORKER = "worker", "Worker"
    BEAT = "beat", "Beat"
    SWEEP = "sweep", "Sweep"
    PURGE = "purge", "Purge"


class Heartbeat(models.Model):
    """A sign of life, overwritten in place (deliveries/liveness.py).

    One row per worker node and per beat process, one for the sweeper's
    last run, one for the purge's: a handful of rows, written on timers,
    never per delivery.
    """

    kind = models.CharField(max_length=16, choices=HeartbeatKind.choices)
    hostname = models.CharField(
        max_length=255,
        blank=True,
        help_text="Workers: the Celery node name (celery@host); beat: the host; runs: empty.",
    )
    pid = models.PositiveIntegerField(
        default=0, help_text="The worker's main process, or beat's; 0 for runs."
    )
    last_seen = models.DateTimeField(help_text="When it last beat (or the run finished).")
    rows_deleted = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Purge runs: deliveries and events deleted."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "hostname", "pid"], name="heartbeat_one_per_process"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.hostname}:{self.pid} at {self.last_seen:%Y-%m-%d %H:%M:%S}"
