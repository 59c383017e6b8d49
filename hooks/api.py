from __future__ import annotations

from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from hooks.models import Account, Role, Scope, Webhook
from hooks.selectors import is_root_admin, tenant_q, user_membership
from hooks.serializers import WebhookSerializer
from hooks.services import webhook_create


class WebhookViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = WebhookSerializer

    def get_queryset(self):
        visible = tenant_q(self.request.user, account_field="account", domain_field="domain")
        return (
            Webhook.objects.filter(visible)
            .select_related("account", "domain")
            .order_by("-created_at")
        )

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "account" not in data:
            membership = user_membership(request.user)
            if membership is None:
                raise ValidationError({"account": ["This field is required."]})
            data["account"] = membership.account
        _check_may_own(request.user, data)
        webhook = webhook_create(**data)
        body = self.get_serializer(webhook).data
        if "secret" not in serializer.validated_data:
            body["secret"] = webhook.secret  # generated: shown this once
        return Response(body, status=status.HTTP_201_CREATED)


def _check_may_own(user, data: dict) -> None:
    """Scope rules (CloudStack's): users local only, for their own account;
    domain admins local or domain within their subtree; global for root only."""
    if is_root_admin(user):
        return
    membership = user_membership(user)
    account: Account = data["account"]
    scope = data.get("scope", Scope.LOCAL)
    if membership is None:
        raise ValidationError({"account": ["You belong to no account."]})
    if membership.role == Role.DOMAIN_ADMIN:
        subtree = membership.account.domain.path
        domain = data.get("domain") or account.domain
        if not account.domain.path.startswith(subtree) or not domain.path.startswith(subtree):
            raise ValidationError({"account": ["Not an account of your domain."]})
        if scope == Scope.GLOBAL:
            raise ValidationError({"scope": ["Only root admins may create global webhooks."]})
        return
    if account.pk != membership.account_id:
        raise ValidationError({"account": ["You may only create webhooks for your account."]})
    if data.get("domain") not in (None, account.domain):
        raise ValidationError({"domain": ["Must be your account's domain."]})
    if scope != Scope.LOCAL:
        raise ValidationError({"scope": ["Users may only create local webhooks."]})
