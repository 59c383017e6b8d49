"""Serializers for the CloudStack finer points of webhooks and domains: filter
rules, and the effective delivery settings with where each came from."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from hooks.domain_settings import SETTINGS, Effective, domain_effective, webhook_effective
from hooks.event_filters import FILTER_VALUE_RE, FilterMatch, FilterMode, filter_rule
from hooks.models import Domain, Webhook


class FilterRuleSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    mode = serializers.ChoiceField(
        choices=FilterMode.choices, help_text="include or exclude (exclude wins)."
    )
    match = serializers.ChoiceField(
        choices=FilterMatch.choices,
        help_text="How value is compared with the event type: exact, prefix, suffix, contains.",
    )
    value = serializers.RegexField(
        FILTER_VALUE_RE,
        trim_whitespace=False,
        max_length=128,
        error_messages={
            "invalid": "Use 1-128 letters, digits, '.', '_' or '-' (no '*': choose a match mode)."
        },
    )


class FilterRulesField(serializers.ListField):
    """A webhook's whole list of rules; given ones get new ids."""

    child = FilterRuleSerializer()

    def __init__(self, **kwargs):
        super().__init__(
            max_length=100,
            required=False,
            help_text="Include/exclude rules ({mode, match, value}); writing the list replaces "
            "them all. One at a time: /webhooks/{id}/filters/.",
            **kwargs,
        )

    def to_internal_value(self, data):
        rules = super().to_internal_value(data)
        return [filter_rule(**rule) for rule in rules]


class SourceDomainSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class EffectiveSettingSerializer(serializers.Serializer):
    value = serializers.FloatField(help_text="What the workers use.")
    # Fields named like Field.source and Field.label: the metaclass moves
    # fields out of the class.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=["webhook", "domain", "default"],
        help_text="webhook: set on it; domain: set on `domain` (its own or an ancestor); "
        "default: the platform setting.",
    )
    domain = SourceDomainSerializer(allow_null=True, help_text="Where it is set (source domain).")
    setting = serializers.CharField(
        allow_blank=True, help_text="The platform setting (source default)."
    )
    label = serializers.CharField(  # type: ignore[assignment]
        help_text="In words, as the console shows it."
    )


def _effective(found: Effective) -> dict:
    return {
        "value": found.value,
        "source": found.source,
        "domain": (
            {"id": found.domain.id, "name": found.domain.name} if found.domain is not None else None
        ),
        "setting": found.setting,
        "label": found.label,
    }


class EffectiveDeliverySerializer(serializers.Serializer):
    timeout = EffectiveSettingSerializer()
    max_attempts = EffectiveSettingSerializer()


def webhook_effective_delivery(webhook: Webhook) -> dict:
    return {name: _effective(webhook_effective(webhook, name)) for name in SETTINGS}


def domain_effective_delivery(domain: Domain) -> dict:
    return {name: _effective(domain_effective(domain, name)) for name in SETTINGS}


def validate_delivery_timeout(value: float) -> None:
    high = settings.WEBHOOK_TIMEOUT_MAX
    if value is not None and not 0.5 <= value <= high:
        raise serializers.ValidationError(f"Must be between 0.5 and {high:g} seconds.")


def validate_delivery_max_attempts(value: int) -> None:
    if value is not None and not 1 <= value <= 50:
        raise serializers.ValidationError("Must be between 1 and 50.")
