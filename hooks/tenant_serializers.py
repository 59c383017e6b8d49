"""The API's tenants: domains (with their delivery settings), accounts,
users and their tokens."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from knox.models import AuthToken
from rest_framework import serializers

from hooks.models import (
    Account,
    Domain,
    Role,
)
from hooks.permissions import request_actor
from hooks.serializers import ScopedRelatedField
from hooks.setting_serializers import (
    EffectiveDeliverySerializer,
    domain_effective_delivery,
    validate_delivery_max_attempts,
    validate_delivery_timeout,
)


class UniqueNameUnder(serializers.ModelSerializer):
    """Names unique under a parent, reported under `name` (DRF's own
    unique-together check would answer under non_field_errors)."""

    container_field: str
    name_taken: str

    def validate(self, attrs):
        container = attrs.get(
            self.container_field, getattr(self.instance, self.container_field, None)
        )
        name = attrs.get("name", getattr(self.instance, "name", None))
        model: type[Domain | Account] = self.Meta.model
        same = model.objects.filter(**{self.container_field: container, "name": name})
        if self.instance is not None:
            same = same.exclude(pk=self.instance.pk)
        if same.exists():
            raise serializers.ValidationError({"name": [self.name_taken]})
        return attrs


class DomainSerializer(UniqueNameUnder):
    # A field named like Field.parent: the metaclass moves fields out of the class.
    parent = ScopedRelatedField(scope="domains")  # type: ignore[assignment]
    container_field = "parent"
    name_taken = "A sibling domain has this name."
    delivery_timeout = serializers.FloatField(
        required=False,
        allow_null=True,
        validators=[validate_delivery_timeout],
        help_text="Seconds per attempt for the webhooks here and in subdomains that set none; "
        "null: inherit.",
    )
    delivery_max_attempts = serializers.IntegerField(
        required=False,
        allow_null=True,
        validators=[validate_delivery_max_attempts],
        help_text="Attempts in all for the webhooks here and in subdomains that set none "
        "(1-50); null: inherit.",
    )
    effective_delivery = serializers.SerializerMethodField(
        help_text="What a webhook of this domain without its own values gets, and from where."
    )

    class Meta:
        model = Domain
        fields = [
            "id", "name", "parent", "path", "delivery_timeout", "delivery_max_attempts",
            "effective_delivery", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "path", "created_at"]
        validators: list[object] = []

    @extend_schema_field(EffectiveDeliverySerializer)
    def get_effective_delivery(self, domain: Domain) -> dict:
        return domain_effective_delivery(domain)


class AccountSerializer(UniqueNameUnder):
    domain = ScopedRelatedField(scope="domains")
    container_field = "domain"
    name_taken = "The domain has an account of this name."

    class Meta:
        model = Account
        fields = ["id", "name", "domain", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[object] = []


class UserSerializer(serializers.ModelSerializer):
    account = ScopedRelatedField(scope="accounts", source="membership.account")
    role = serializers.ChoiceField(
        choices=Role.choices, source="membership.role", default=Role.USER
    )
    password = serializers.CharField(write_only=True, required=False, min_length=8, max_length=128)

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "password", "account", "role", "date_joined"]
        read_only_fields = ["id", "date_joined"]


class TokenSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="token_key", read_only=True)
    user = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = AuthToken
        fields = ["id", "user", "created", "expiry"]


class ManagedUserField(serializers.PrimaryKeyRelatedField):
    """A login the requester manages; any other id does not exist (400), so
    answers do not reveal which user ids exist."""

    def __init__(self, **kwargs):
        super().__init__(pk_field=serializers.IntegerField(), **kwargs)

    def get_queryset(self):
        return request_actor(self.context["request"]).users()


class TokenCreateSerializer(serializers.Serializer):
    user = ManagedUserField(
        required=False, help_text="Whose token (admins, for users they manage); default: yours."
    )
    expiry_hours = serializers.FloatField(required=False, min_value=0.01, max_value=24 * 3650)


class TokenCreatedSerializer(TokenSerializer):
    key = serializers.CharField(read_only=True, help_text="Shown this once.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]
