from __future__ import annotations

from rest_framework import serializers

from hooks.models import EVENT_PATTERN_RE, Account, Domain, Webhook


class WebhookSerializer(serializers.ModelSerializer):
    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.all(), required=False)
    domain = serializers.PrimaryKeyRelatedField(queryset=Domain.objects.all(), required=False)
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=256,
        help_text="whsec_ + base64; generated when omitted, returned once. Empty: unsigned.",
    )
    auth_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=255
    )
    event_types = serializers.ListField(
        child=serializers.RegexField(EVENT_PATTERN_RE, max_length=128),
        required=False,
        max_length=100,
    )
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = Webhook
        fields = [
            "id",
            "name",
            "description",
            "scope",
            "account",
            "domain",
            "payload_url",
            "ssl_verification",
            "secret",
            "has_secret",
            "enabled",
            "event_types",
            "header_style",
            "auth_username",
            "auth_password",
            "timeout",
            "max_attempts",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_has_secret(self, webhook: Webhook) -> bool:
        return bool(webhook.secret)
