"""REST API for tenants and webhooks (/api/v1/). Views stay thin: the rules
live in hooks.permissions and the writes in hooks.services."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.filters import SearchFilter
from rest_framework.response import Response

from hooks.domain_settings import EFFECTIVE_RELATED, domains_resolve
from hooks.filters import AccountFilter, DomainFilter, WebhookFilter, WebhookOrderingFilter
from hooks.models import Membership, Role, Webhook
from hooks.permissions import ActorMixin, IsTenantAdmin
from hooks.serializers import (
    RotateSecretResultSerializer,
    RotateSecretSerializer,
    WebhookSerializer,
)
from hooks.services import (
    account_create,
    domain_create,
    token_issue,
    user_create,
    webhook_check_scope,
    webhook_create,
    webhook_delete,
    webhook_rotate_secret,
    webhook_update,
)
from hooks.tenant_serializers import (
    AccountSerializer,
    DomainSerializer,
    TokenCreatedSerializer,
    TokenCreateSerializer,
    TokenSerializer,
    UserSerializer,
)


def conflict(message: str) -> Response:
    return Response({"detail": message}, status=status.HTTP_409_CONFLICT)


class WebhookViewSet(ActorMixin, viewsets.ModelViewSet):
    # The router serves deliveries.api.WebhookViewSet, this plus what needs
    # the delivery table (held counts, resume, re-enabling that drains).

    serializer_class = WebhookSerializer
    filterset_class = WebhookFilter
    filter_backends = [DjangoFilterBackend, SearchFilter, WebhookOrderingFilter]
    search_fields = ["name", "description", "payload_url"]
    ordering_fields = ["name", "created_at", "updated_at", "scope", "enabled", "health"]
    ordering = ["-created_at"]

    def get_queryset(self):
        visible = self.actor.visible(account_field="account", domain_field="domain")
        return (
            Webhook.objects.filter(visible)
            .select_related("account", *EFFECTIVE_RELATED)
            .with_health_rank()  # for ?ordering=health; a CASE over the row's own columns
        )

    # The actor's scope rules are the services' (webhook_check_scope): a broken
    # one raises hooks.errors.ScopeError, a PermissionDenied DRF answers as 403.

    def perform_create(self, serializer):
        serializer.instance = webhook_create(actor=self.actor, **serializer.validated_data)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        assert serializer.instance is not None  # perform_create set it
        body = self.get_serializer(serializer.instance).data
        if "secret" not in serializer.validated_data:
            body["secret"] = serializer.instance.secret  # generated: shown this once
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        serializer.instance = webhook_update(
            actor=self.actor, webhook=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        # Deleting is changing: a role that may not have this scope may not
        # delete it either (a root admin's global webhook in a tenant's account).
        webhook_check_scope(
            actor=self.actor, scope=instance.scope, account=instance.account, domain=instance.domain
        )
        self.remove(instance)

    def remove(self, webhook: Webhook) -> None:
        """Delete it. deliveries/api.py's subclass (the one routed) deletes its
        deliveries in bounded batches first: hooks knows nothing of them."""
        webhook_delete(webhook=webhook)

    @extend_schema(request=RotateSecretSerializer, responses=RotateSecretResultSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """Issue a new secret; the old one keeps signing too for the overlap window."""
        webhook = self.get_object()
        serializer = RotateSecretSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = webhook_rotate_secret(webhook=webhook, **serializer.validated_data)
        return Response(
            {
                "secret": webhook.secret,
                "previous_secret_expires_at": webhook.previous_secret_expires_at,
            }
        )


CASCADE_REFUSED = (
    "Deleting it would delete webhooks outside your domain, or global ones; "
    "a root admin must delete or move those first."
)


class DomainViewSet(ActorMixin, viewsets.ModelViewSet):
    """Domains in the caller's subtree (root admins: all). Admins only."""

    serializer_class = DomainSerializer
    permission_classes = [IsTenantAdmin]
    filterset_class = DomainFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "path"]
    ordering = ["path"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return self.actor.domains().select_related(
            "parent", "inherited_timeout_from", "inherited_max_attempts_from"
        )

    def perform_create(self, serializer):
        try:
            serializer.instance = domain_create(**serializer.validated_data)
        except IntegrityError:
            raise ValidationError({"name": ["A sibling domain has this name."]}) from None

    def perform_update(self, serializer):
        if "parent" in serializer.validated_data and (
            serializer.validated_data["parent"] != serializer.instance.parent
        ):
            raise ValidationError({"parent": ["Domains cannot be moved."]})
        try:
            with transaction.atomic():
                domain = serializer.save()
                if {"delivery_timeout", "delivery_max_attempts"} & set(serializer.validated_data):
                    # Passed down the subtree now: the next attempt claimed
                    # by any webhook below uses it (hooks.domain_settings).
                    domains_resolve(top=domain)
                    serializer.instance = self.get_queryset().get(pk=domain.pk)
        except IntegrityError:
            raise ValidationError({"name": ["A sibling domain has this name."]}) from None

    def destroy(self, request, *args, **kwargs):
        domain = self.get_object()
        if domain.path == self.actor.domain_path and not self.actor.is_root:
            raise PermissionDenied("You cannot delete your own domain.")
        if self.actor.webhooks_beyond_reach(Webhook.objects.filter(domain=domain)):
            raise PermissionDenied(CASCADE_REFUSED)
        try:
            self.remove(domain)
        except ProtectedError:
            return conflict("The domain still has subdomains or accounts.")
        return Response(status=status.HTTP_204_NO_CONTENT)

    def remove(self, domain) -> None:
        """Delete it (see WebhookViewSet.remove)."""
        domain.delete()


class AccountViewSet(ActorMixin, viewsets.ModelViewSet):
    """Accounts in the caller's subtree (root admins: all). Admins only."""

    serializer_class = AccountSerializer
    permission_classes = [IsTenantAdmin]
    filterset_class = AccountFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return self.actor.accounts().select_related("domain")

    def perform_create(self, serializer):
        try:
            serializer.instance = account_create(**serializer.validated_data)
        except IntegrityError:
            raise ValidationError({"name": ["The domain has an account of this name."]}) from None

    def perform_update(self, serializer):
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError:
            raise ValidationError({"name": ["The domain has an account of this name."]}) from None

    def destroy(self, request, *args, **kwargs):
        account = self.get_object()
        if self.actor.account and account.pk == self.actor.account.pk:
            raise PermissionDenied("You cannot delete your own account.")
        if self.actor.webhooks_beyond_reach(Webhook.objects.filter(account=account)):
            raise PermissionDenied(CASCADE_REFUSED)
        try:
            self.remove(account)
        except ProtectedError:
            return conflict("The account still has users.")
        return Response(status=status.HTTP_204_NO_CONTENT)

    def remove(self, account) -> None:
        """Delete it (see WebhookViewSet.remove)."""
        account.delete()


class UserViewSet(ActorMixin, viewsets.ModelViewSet):
    """Logins, with their account and role. Admins only, within their subtree."""

    serializer_class = UserSerializer
    permission_classes = [IsTenantAdmin]
    search_fields = ["username"]
    ordering_fields = ["username", "date_joined"]
    ordering = ["username"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        visible = self.actor.visible(
            account_field="membership__account", domain_field="membership__account__domain"
        )
        return get_user_model().objects.filter(visible).select_related("membership__account")

    def _check_role(self, role: str) -> None:
        if role == Role.ROOT_ADMIN and not self.actor.is_root:
            raise PermissionDenied("Only root admins may make root admins.")

    def perform_create(self, serializer):
        data = serializer.validated_data
        membership = data.get("membership", {})
        role = membership.get("role", Role.USER)
        self._check_role(role)
        User = get_user_model()
        if User.objects.filter(username=data["username"]).exists():
            raise ValidationError({"username": ["This username is taken."]})
        serializer.instance = user_create(
            username=data["username"],
            account=membership["account"],
            role=role,
            password=data.get("password"),
        )

    def perform_update(self, serializer):
        user = serializer.instance
        self.actor.check_may_manage(user)
        data = serializer.validated_data
        membership = data.get("membership", {})
        if "role" in membership:
            self._check_role(membership["role"])
        if user.pk == self.request.user.pk and membership:
            raise PermissionDenied("You cannot change your own account or role.")
        with transaction.atomic():
            if "username" in data:
                user.username = data["username"]
            if data.get("password"):
                user.set_password(data["password"])
            if "role" in membership:
                # The flags are what makes a root admin (and the Django admin
                # honour it): they follow the role both ways.
                user.is_staff = user.is_superuser = membership["role"] == Role.ROOT_ADMIN
            user.save()
            if membership:
                Membership.objects.update_or_create(user=user, defaults=membership)
        # Answer with what is stored now, not the membership cached before.
        serializer.instance = self.get_queryset().get(pk=user.pk)

    def destroy(self, request, *args, **kwargs):
        user = self.get_object()
        if user.pk == request.user.pk:
            raise PermissionDenied("You cannot delete yourself.")
        self.actor.check_may_manage(user)
        user.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenViewSet(
    ActorMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """API tokens: your own; admins also those of users in their subtree.
    Only a hash is stored: the key is shown once, when the token is issued."""

    serializer_class = TokenSerializer
    queryset = AuthToken.objects.none()  # for the schema; get_queryset scopes it
    lookup_field = "token_key"
    lookup_url_kwarg = "pk"
    ordering_fields = ["created", "expiry"]
    ordering = ["-created"]
    filter_backends = []

    def get_queryset(self):
        own = AuthToken.objects.filter(user=self.request.user)
        if not self.actor.is_admin:
            return own.select_related("user")
        visible = self.actor.visible(
            account_field="user__membership__account",
            domain_field="user__membership__account__domain",
        )
        return (AuthToken.objects.filter(visible) | own).select_related("user").order_by("-created")

    @extend_schema(request=TokenCreateSerializer, responses={201: TokenCreatedSerializer})
    def create(self, request):
        if not self.actor.is_admin and str(request.data.get("user", request.user.pk)) != str(
            request.user.pk
        ):
            # Before validation, whatever the id: no hint of which users exist.
            raise PermissionDenied("Only admins may issue tokens for others.")
        serializer = TokenCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data.get("user", request.user)
        if user.pk != request.user.pk:
            self.actor.check_may_manage(user)
        instance, key = token_issue(
            user=user, expiry_hours=serializer.validated_data.get("expiry_hours")
        )
        body = TokenSerializer(instance).data | {"key": key}
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        if instance.user_id != self.request.user.pk:
            self.actor.check_may_manage(instance.user)
        instance.delete()
