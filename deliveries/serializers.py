from __future__ import annotations

import base64
import re

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api import contains_nul
from deliveries.models import BulkJob, Delivery, DeliveryAttempt, Event, IncidentState
from hooks.callmatch import CALL_EVENT_PREFIX
from hooks.models import Webhook
from hooks.patterns import EVENT_TYPE_RE
from hooks.permissions import request_actor
from hooks.serializers import (
    ScopedRelatedField,
    TestDeliverySerializer,
    validate_secret_value,
    validate_url,
)

# Printable, no control characters (a key is shown in consoles and logs).
INCIDENT_KEY_RE = re.compile(r"\A[^\x00-\x1f\x7f]{1,255}\Z")


class ScopedWebhookField(serializers.PrimaryKeyRelatedField):
    """A webhook id the requester can see; any other does not exist (400)."""

    def __init__(self, **kwargs):
        super().__init__(pk_field=serializers.UUIDField(), **kwargs)

    def get_queryset(self):
        actor = request_actor(self.context["request"])
        return Webhook.objects.filter(actor.visible(account_field="account", domain_field="domain"))


class ResourceSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=255, required=False, allow_blank=True)
    type = serializers.CharField(max_length=128, required=False, allow_blank=True)


class ActorSerializer(serializers.Serializer):
    id = serializers.CharField(
        max_length=255, required=False, allow_blank=True, default="", trim_whitespace=False,
        help_text="The acting user's id in your system (MyCloudIT UserId, XO userId).",
    )  # fmt: skip
    name = serializers.CharField(
        max_length=255, required=False, allow_blank=True, default="", trim_whitespace=False,
        help_text="Their login or e-mail address (XO userName).",
    )  # fmt: skip


class EventPublishSerializer(serializers.Serializer):
    """One event to publish. `account` and `domain` must be ones the caller sees."""

    id = serializers.UUIDField(required=False, help_text="Idempotency: the same id is one event.")
    type = serializers.RegexField(
        EVENT_TYPE_RE,
        trim_whitespace=False,
        max_length=128,
        error_messages={"invalid": "Use 1-128 letters, digits, '.', '_' or '-'."},
        help_text="e.g. VM.CREATE. Types starting with 'call.' are reserved for call hooks.",
    )
    account = ScopedRelatedField(scope="accounts", required=False, allow_null=True)
    domain = ScopedRelatedField(scope="domains", required=False, allow_null=True)
    resource = ResourceSerializer(required=False, allow_null=True)
    timestamp = serializers.DateTimeField(required=False, help_text="When it happened.")
    actor = ActorSerializer(
        required=False,
        allow_null=True,
        help_text="Who acted. Omitted: you, the caller. Admins may name anyone, or null "
        "for no one; users only themselves.",
    )
    # A field named like Serializer.data: the metaclass moves fields out of the class.
    data = serializers.DictField(required=False, default=dict)  # type: ignore[assignment]

    incident_key = serializers.RegexField(
        INCIDENT_KEY_RE,
        required=False,
        allow_blank=True,
        max_length=255,
        trim_whitespace=False,
        error_messages={
            "invalid": "Must be a string of printable characters (no control characters)."
        },
        help_text="Alarms: names the incident this event is about, within its account "
        "(Tencent Cloud: the policy and object). A newer event of the same incident ends "
        "the alarm repeats of the older ones.",
    )
    incident_state = serializers.ChoiceField(
        choices=IncidentState.choices,
        required=False,
        allow_blank=True,
        help_text="firing (the default with incident_key) or resolved.",
    )

    def validate_type(self, value: str) -> str:
        # Call events are the platform's record of calls (docs/api.md#call-hooks):
        # nobody may forge one, in any letter case.
        if value.lower().startswith(CALL_EVENT_PREFIX):
            raise serializers.ValidationError(
                f"Types starting with {CALL_EVENT_PREFIX!r} are reserved for call hooks."
            )
        return value

    def validate_data(self, value: dict) -> dict:
        if contains_nul(value):
            raise serializers.ValidationError("Must not contain NUL (\\u0000) characters.")
        return value

    def validate(self, attrs):
        if attrs.get("incident_state") and not attrs.get("incident_key"):
            raise serializers.ValidationError(
                {"incident_state": ["Give incident_key too: the incident this state is about."]}
            )
        return attrs


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    envelope = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = [
            "id",
            "type",
            "account",
            "domain",
            "resource_id",
            "resource_type",
            "actor",
            "occurred_at",
            "created_at",
            "incident_key",
            "incident_state",
            "envelope",
        ]

    @extend_schema_field(ActorSerializer(allow_null=True))
    def get_actor(self, event: Event) -> dict | None:
        return event.actor

    def get_envelope(self, event: Event) -> dict:
        return event.envelope()


class AttemptSerializer(serializers.ModelSerializer):
    # A receiver's answer is bytes, stored as such: `response_body` is their
    # text when they are UTF-8, else the bytes escaped (\\x1f\\x8b…);
    # `response_body_base64` is exact whatever they are.
    response_body = serializers.CharField(source="body_display", read_only=True)
    response_body_base64 = serializers.SerializerMethodField()
    response_content_type = serializers.CharField(source="content_type", read_only=True)

    class Meta:
        model = DeliveryAttempt
        fields = [
            "number",
            "started_at",
            "duration_ms",
            "url",
            "request_headers",
            "response_status",
            "response_headers",
            "response_body",
            "response_body_base64",
            "response_content_type",
            "response_truncated",
            "error_class",
            "error_message",
            "worker",
        ]

    def get_response_body_base64(self, attempt: DeliveryAttempt) -> str:
        return base64.b64encode(attempt.body_bytes).decode()


class DeliverySerializer(serializers.ModelSerializer):
    event_type = serializers.CharField(source="event.type", read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event",
            "event_type",
            "webhook",
            "repeat",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "finished_at",
        ]


class DeliveryDetailSerializer(DeliverySerializer):
    attempts_made = AttemptSerializer(source="attempt_set", many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "attempts_made"]


class EventBatchSerializer(serializers.Serializer):
    events = EventPublishSerializer(many=True, allow_empty=False)

    def validate_events(self, value: list) -> list:
        limit = settings.API_EVENT_BATCH_MAX
        if len(value) > limit:
            raise serializers.ValidationError(f"At most {limit} events per batch.")
        return value


class PublishedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    deliveries = serializers.IntegerField()
    created = serializers.BooleanField()


class EventDetailSerializer(EventSerializer):
    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta(EventSerializer.Meta):
        fields = [*EventSerializer.Meta.fields, "deliveries"]


class RecoverSerializer(serializers.Serializer):
    webhook = ScopedWebhookField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField(required=False)
    dry_run = serializers.BooleanField(default=False)

    def validate(self, attrs):
        attrs.setdefault("until", timezone.now())
        if attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"since": ["Must be before until."]})
        return attrs


class RedeliverResultSerializer(serializers.Serializer):
    delivery = DeliverySerializer()
    attempt = AttemptSerializer()


class BulkJobSerializer(serializers.ModelSerializer):
    """A bulk recover, requeue or delete run by the workers, with its progress."""

    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = BulkJob
        fields = [
            "id",
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
        read_only_fields = fields


class TestDeliveryOverridesSerializer(TestDeliverySerializer):
    """A test delivery to a saved webhook, optionally with CloudStack's
    executeWebhookDelivery overrides: for this one send only, never stored."""

    payload_url = serializers.CharField(
        required=False,
        max_length=2048,
        trim_whitespace=False,
        help_text="Send to this URL instead, for this send only.",
    )
    secret = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=256,
        help_text="Sign with this secret instead (empty: unsigned), for this send only.",
    )
    ssl_verification = serializers.BooleanField(
        required=False, help_text="Verify TLS or not, for this send only."
    )

    def validate_payload_url(self, value: str) -> str:
        return validate_url(value)

    def validate_secret(self, value: str) -> str:
        return validate_secret_value(value)
