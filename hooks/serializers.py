"""The webhook serializers and the test-send ones (tenants, users and tokens:
hooks/tenant_serializers.py)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hooks.callmatch import METHOD_PATTERN_RE, CallPhase
from hooks.destinations import DestinationError, check_payload_url
from hooks.health import Health
from hooks.models import (
    HeaderStyle,
    PayloadFormat,
    Webhook,
)
from hooks.patterns import (
    EVENT_PATTERN_RE,
    EVENT_TYPE_RE,
    validate_custom_headers,
)
from hooks.permissions import request_actor
from hooks.receiver_rules_api import ReceiverRulesFields
from hooks.services import check_secret
from hooks.setting_serializers import (
    EffectiveDeliverySerializer,
    FilterRulesField,
    webhook_effective_delivery,
)


class ScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A related id the requester can see; any other id does not exist (400)."""

    def __init__(self, *, scope: str, **kwargs):
        self.scope = scope
        super().__init__(pk_field=serializers.UUIDField(), **kwargs)

    def get_queryset(self):
        actor = request_actor(self.context["request"])
        return actor.domains() if self.scope == "domains" else actor.accounts()


def payload_url_field() -> serializers.CharField:
    # trim_whitespace=False: a URL with stray whitespace or CR/LF is refused,
    # not quietly repaired.
    return serializers.CharField(
        max_length=2048, trim_whitespace=False, help_text="http(s) URL events are POSTed to."
    )


def validate_url(value: str) -> str:
    try:
        check_payload_url(value, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_IPS)
    except DestinationError as exc:
        raise serializers.ValidationError(str(exc)) from None
    return value


def validate_secret_value(value: str) -> str:
    if value:
        try:
            check_secret(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
    return value


def validate_headers_value(value: dict) -> dict:
    try:
        validate_custom_headers(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from None
    return value


class WebhookHealthSerializer(serializers.Serializer):
    """An endpoint's health as the workers last wrote it (read-only): the
    state, why and since when, and what it means for sending."""

    state = serializers.ChoiceField(choices=Health.choices, source="health", read_only=True)
    reason = serializers.CharField(source="state_reason", read_only=True)
    changed_at = serializers.DateTimeField(
        source="state_changed_at",
        read_only=True,
        allow_null=True,
        help_text="When the state last changed.",
    )
    consecutive_failures = serializers.IntegerField(read_only=True)
    failing_since = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="First failure since the last success."
    )
    last_success_at = serializers.DateTimeField(read_only=True, allow_null=True)
    circuit_retry_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Circuit open: when the next probe may be sent."
    )
    throttled_until = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Retry-After: nothing is sent before this time."
    )
    sending_limit = serializers.IntegerField(
        read_only=True,
        help_text="Deliveries sent at once now: max_in_flight (or WEBHOOK_MAX_IN_FLIGHT), "
        "less after a 429 or 503, 1 (the probe) while the circuit is open, 0 when disabled.",
    )
    held_deliveries = serializers.SerializerMethodField(
        help_text="Pending deliveries waiting for this endpoint (disabled, circuit open or "
        "throttled), counted up to 10,000. On the detail and the answers to updates and "
        "resume; null in lists."
    )

    def get_held_deliveries(self, webhook: Webhook) -> int | None:
        # Set by the view that counted them (deliveries.api.WebhookViewSet):
        # counting needs the delivery table, which hooks does not know.
        return getattr(webhook, "held_deliveries", None)


class WebhookSerializer(ReceiverRulesFields, serializers.ModelSerializer):
    account = ScopedRelatedField(scope="accounts", required=False)
    domain = ScopedRelatedField(scope="domains", required=False)
    payload_url = payload_url_field()
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=256,
        help_text="whsec_ + base64 of 24-64 bytes; generated when omitted and returned once. "
        "Empty: requests are not signed.",
    )
    auth_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=255
    )
    event_types = serializers.ListField(
        child=serializers.RegexField(
            EVENT_PATTERN_RE,
            trim_whitespace=False,
            max_length=128,
            error_messages={"invalid": "Use letters, digits, '.', '_', '-' and '*'."},
        ),
        required=False,
        max_length=100,
    )
    event_filters = FilterRulesField()
    headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=1024, trim_whitespace=False),
        required=False,
        help_text="Extra request headers; the signature, Host and Content-* headers are refused.",
    )
    call_methods = serializers.ListField(
        child=serializers.RegexField(
            METHOD_PATTERN_RE,
            trim_whitespace=False,
            max_length=128,
            error_messages={"invalid": "Use letters, digits, '.', '_', '-' and '*'."},
        ),
        required=False,
        max_length=100,
        help_text="Call hooks: API method patterns, exact or with '*' (vm.*, webhook.*); "
        "their calls are sent as call.pre and call.post events. Empty: none. With call "
        "methods and no event_types, the webhook gets no other events.",
    )
    call_phase = serializers.ChoiceField(
        choices=CallPhase.choices,
        required=False,
        help_text="Call hooks: pre (the call.pre event), post (call.post) or both.",
    )
    timeout = serializers.FloatField(required=False, allow_null=True)
    max_attempts = serializers.IntegerField(required=False, allow_null=True)
    max_in_flight = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Deliveries sent to this endpoint at once, across all workers (1-1000); "
        "null: WEBHOOK_MAX_IN_FLIGHT.",
    )
    has_secret = serializers.SerializerMethodField()
    health = WebhookHealthSerializer(source="*", read_only=True)
    effective_delivery = serializers.SerializerMethodField(
        help_text="The timeout and max_attempts the workers use, each with where it came "
        "from: the webhook, a domain (its own or an ancestor), or the platform default."
    )

    class Meta:
        model = Webhook
        fields = [
            "id", "name", "description", "scope", "account", "domain", "payload_url",
            "ssl_verification", "secret", "has_secret", "enabled", "event_types", "event_filters",
            "headers", "header_style", "payload_format", "auth_username", "auth_password",
            "timeout", "max_attempts", "max_in_flight", "effective_delivery", "call_methods",
            "call_phase", "ack_field", "ack_value", "ack_session_field", "repeat_every",
            "repeat_max", "health", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_has_secret(self, webhook: Webhook) -> bool:
        return bool(webhook.secret)

    @extend_schema_field(EffectiveDeliverySerializer)
    def get_effective_delivery(self, webhook: Webhook) -> dict:
        return webhook_effective_delivery(webhook)

    def validate_payload_url(self, value: str) -> str:
        return validate_url(value)

    def validate_secret(self, value: str) -> str:
        return validate_secret_value(value)

    def validate_headers(self, value: dict) -> dict:
        return validate_headers_value(value)

    def validate_timeout(self, value: float | None) -> float | None:
        high = settings.WEBHOOK_TIMEOUT_MAX
        if value is not None and not 0.5 <= value <= high:
            raise serializers.ValidationError(f"Must be between 0.5 and {high:g} seconds.")
        return value

    def validate_max_attempts(self, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 50:
            raise serializers.ValidationError("Must be between 1 and 50.")
        return value

    def validate_max_in_flight(self, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 1000:
            raise serializers.ValidationError("Must be between 1 and 1000.")
        return value


class TestDeliverySerializer(serializers.Serializer):
    """What to send in a test delivery: a sample event unless one is given."""

    type = serializers.RegexField(
        EVENT_TYPE_RE, required=False, default="TEST", trim_whitespace=False
    )
    # A field named like Serializer.data: the metaclass moves fields out of the class.
    data = serializers.DictField(required=False, default=dict)  # type: ignore[assignment]


class TestURLSerializer(TestDeliverySerializer):
    payload_url = payload_url_field()
    secret = serializers.CharField(required=False, allow_blank=True, max_length=256, default="")
    header_style = serializers.ChoiceField(choices=HeaderStyle.choices, default="standard")
    payload_format = serializers.ChoiceField(choices=PayloadFormat.choices, default="standard")
    ssl_verification = serializers.BooleanField(default=True)
    headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=1024),
        required=False,
        default=dict,
    )

    def validate_payload_url(self, value: str) -> str:
        return validate_url(value)

    def validate_secret(self, value: str) -> str:
        return validate_secret_value(value)

    def validate_headers(self, value: dict) -> dict:
        return validate_headers_value(value)


class TestResultSerializer(serializers.Serializer):
    status_code = serializers.IntegerField(allow_null=True)
    ok = serializers.BooleanField()
    duration_ms = serializers.IntegerField()
    response_headers = serializers.DictField(child=serializers.CharField())
    response_body = serializers.CharField(allow_blank=True)
    response_truncated = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)


class RotateSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(
        required=False, max_length=256, help_text="The new secret; generated when omitted."
    )
    overlap_seconds = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=30 * 86400,
        help_text="How long the old secret keeps signing too (default "
        "WEBHOOK_SECRET_ROTATION_OVERLAP).",
    )

    def validate_secret(self, value: str) -> str:
        return validate_secret_value(value)


class RotateSecretResultSerializer(serializers.Serializer):
    secret = serializers.CharField()
    previous_secret_expires_at = serializers.DateTimeField(allow_null=True)
