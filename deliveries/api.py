from __future__ import annotations

from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from deliveries.models import Delivery, Event
from deliveries.publishing import EventConflict, event_publish
from deliveries.serializers import (
    DeliveryDetailSerializer,
    DeliverySerializer,
    EventPublishSerializer,
    EventSerializer,
)
from hooks.models import Role
from hooks.selectors import is_root_admin, tenant_q, user_membership


class EventViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = EventSerializer

    def get_queryset(self):
        visible = tenant_q(self.request.user, account_field="account", domain_field="domain")
        return Event.objects.filter(visible).order_by("-created_at")

    def create(self, request, *args, **kwargs):
        """Publish an event: 202 with its id and how many deliveries it made."""
        serializer = EventPublishSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = data.get("account")
        if not is_root_admin(request.user):
            membership = user_membership(request.user)
            if membership is None:
                raise NotFound("You belong to no account.")
            if account is None:
                account = membership.account
            if account.pk != membership.account_id and not (
                membership.role == Role.DOMAIN_ADMIN
                and account.domain.path.startswith(membership.account.domain.path)
            ):
                raise ValidationError({"account": ["Not an account you may publish for."]})
        resource = data.get("resource") or {}
        try:
            result = event_publish(
                type=data["type"],
                data=data.get("data", {}),
                account=account,
                domain=None if account else data.get("domain"),
                resource_id=resource.get("id", ""),
                resource_type=resource.get("type", ""),
                occurred_at=data.get("timestamp"),
                event_id=data.get("id"),
            )
        except EventConflict as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(
            {
                "id": str(result.event.id),
                "deliveries": result.delivery_count,
                "created": result.created,
            },
            status=status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK,
        )


class DeliveryViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    def get_serializer_class(self):
        return DeliveryDetailSerializer if self.action == "retrieve" else DeliverySerializer

    def get_queryset(self):
        visible = tenant_q(
            self.request.user, account_field="webhook__account", domain_field="webhook__domain"
        )
        qs = Delivery.objects.filter(visible).select_related("event").order_by("-created_at")
        if self.action == "retrieve":
            qs = qs.prefetch_related("attempt_set")
        for name in ("webhook", "event", "status"):
            value = self.request.query_params.get(name)
            if value:
                qs = qs.filter(**{name: value})
        return qs
