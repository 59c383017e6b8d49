from __future__ import annotations

from rest_framework import serializers

from deliveries.models import Delivery, DeliveryAttempt, Event
from hooks.models import EVENT_TYPE_RE, Account, Domain
from webhooks_project.api import contains_nul


class ResourceSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=255, required=False, allow_blank=True)
    type = serializers.CharField(max_length=128, required=False, allow_blank=True)


class EventPublishSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False, help_text="Idempotency: the same id is one event.")
    type = serializers.RegexField(
        EVENT_TYPE_RE,
        max_length=128,
        error_messages={"invalid": "Use 1-128 letters, digits, '.', '_' or '-'."},
    )
    account = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.all(), required=False, allow_null=True
    )
    domain = serializers.PrimaryKeyRelatedField(
        queryset=Domain.objects.all(), required=False, allow_null=True
    )
    resource = ResourceSerializer(required=False, allow_null=True)
    timestamp = serializers.DateTimeField(required=False, help_text="When it happened.")
    data = serializers.DictField(required=False, default=dict)

    def validate_data(self, value: dict) -> dict:
        if contains_nul(value):
            raise serializers.ValidationError("Must not contain NUL (\\u0000) characters.")
        return value


class EventSerializer(serializers.ModelSerializer):
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
            "occurred_at",
            "created_at",
            "envelope",
        ]

    def get_envelope(self, event: Event) -> dict:
        return event.envelope()


class AttemptSerializer(serializers.ModelSerializer):
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
            "response_truncated",
            "error_class",
            "error_message",
        ]


class DeliverySerializer(serializers.ModelSerializer):
    event_type = serializers.CharField(source="event.type", read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event",
            "event_type",
            "webhook",
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
