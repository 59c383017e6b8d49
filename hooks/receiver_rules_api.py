"""The API's side of hooks/receiver_rules.py: the acknowledgement and alarm
repeat fields of a webhook, checked as a whole (a PATCH of one field is
checked with the others as they will be)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from hooks.acks import ACK_PATH_MAX, SESSION_HEADER, validate_ack_path
from hooks.models import Webhook

# The fields, with a new webhook's values.
RULE_DEFAULTS = {
    "ack_field": "",
    "ack_value": None,
    "ack_session_field": "",
    "repeat_every": None,
    "repeat_max": None,
}


def validate_ack_path_value(value: str) -> str:
    try:
        validate_ack_path(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from None
    return value


class ReceiverRulesFields(serializers.Serializer):
    """Declared fields and checks mixed into WebhookSerializer."""

    ack_field = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=ACK_PATH_MAX,
        trim_whitespace=False,
        help_text="Acknowledgement: a field of the receiver's JSON answer (dotted path, "
        "e.g. retCode or result.code) that must equal ack_value for a 2xx to count as "
        "delivered; otherwise the attempt fails and is retried. Empty: any 2xx.",
    )
    ack_value = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="The JSON value ack_field must have (Tencent Cloud: 0). Required with ack_field.",
    )
    ack_session_field = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=ACK_PATH_MAX,
        trim_whitespace=False,
        help_text=f"A field of the JSON answer that must echo the session id (the delivery "
        f"id, sent in the {SESSION_HEADER} header on every attempt) (Tencent Cloud: "
        f"sessionId). Empty: not checked, and the header is not sent.",
    )
    repeat_every = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Alarm repeats: seconds after which a firing alarm event (incident_state "
        "firing) is delivered again, until an event of the same incident_key is published "
        "(at least WEBHOOK_REPEAT_MIN_INTERVAL). Null: no repeats.",
    )
    repeat_max = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Repeats of one alarm event at most (1 to WEBHOOK_REPEAT_COUNT_MAX); "
        "null: WEBHOOK_REPEAT_COUNT.",
    )

    def validate_ack_field(self, value: str) -> str:
        return validate_ack_path_value(value)

    def validate_ack_session_field(self, value: str) -> str:
        return validate_ack_path_value(value)

    def validate(self, attrs):
        # The rule as a whole (a value without a field, ranges), as it will
        # be after this write: a PATCH of one field is checked with the rest.
        merged = Webhook(**{name: self._after_write(attrs, name) for name in RULE_DEFAULTS})
        errors = merged.receiver_rules_errors()
        if errors:
            raise serializers.ValidationError({k: [v] for k, v in errors.items()})
        return attrs

    def _after_write(self, attrs: dict, name: str):
        if name in attrs:
            return attrs[name]
        if self.instance is not None:
            return getattr(self.instance, name)
        return RULE_DEFAULTS[name]
