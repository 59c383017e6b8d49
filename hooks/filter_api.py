"""/api/v1/webhooks/{id}/filters/: a webhook's include and exclude rules, one
resource each (CloudStack's addWebhookFilter, listWebhookFilters,
deleteWebhookFilter). The whole list is also the webhook's `event_filters`
field, readable and writable there."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from hooks.filter_services import (
    FilterNotFound,
    webhook_filter_add,
    webhook_filter_update,
    webhook_filters_delete,
)
from hooks.models import Webhook
from hooks.permissions import ActorMixin
from hooks.setting_serializers import FilterRuleSerializer


class FilterListSerializer(serializers.Serializer):
    """The answer to a list: the rules, in the order they were added."""

    count = serializers.IntegerField()
    results = FilterRuleSerializer(many=True)


def _webhook(view: ActorMixin, pk) -> Webhook:
    visible = view.actor.visible(account_field="account", domain_field="domain")
    webhook = Webhook.objects.filter(visible, pk=pk).select_related("account", "domain").first()
    if webhook is None:
        raise NotFound("No such webhook.")
    return webhook


def _invalid(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)


class WebhookFiltersView(ActorMixin, APIView):
    """GET: list a webhook's rules. POST: add one. DELETE: remove them all."""

    @extend_schema(responses=FilterListSerializer, operation_id="webhooks_filters_list")
    def get(self, request, pk):
        rules = _webhook(self, pk).event_filters
        return Response({"count": len(rules), "results": rules})

    @extend_schema(
        request=FilterRuleSerializer,
        responses={201: FilterRuleSerializer},
        operation_id="webhooks_filters_create",
    )
    def post(self, request, pk):
        webhook = _webhook(self, pk)
        serializer = FilterRuleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            rule = webhook_filter_add(
                actor=self.actor, webhook=webhook, **serializer.validated_data
            )
        except DjangoValidationError as exc:
            raise _invalid(exc) from None
        return Response(rule, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={200: {"type": "object", "properties": {"deleted": {"type": "integer"}}}},
        operation_id="webhooks_filters_delete_all",
    )
    def delete(self, request, pk):
        deleted = webhook_filters_delete(actor=self.actor, webhook=_webhook(self, pk))
        return Response({"deleted": deleted})


RULE_ID = OpenApiParameter("rule_id", str, OpenApiParameter.PATH, description="The rule's id.")


class WebhookFilterView(ActorMixin, APIView):
    """One rule: GET, PATCH (mode, match, value), DELETE."""

    def _rule(self, webhook: Webhook, rule_id) -> dict:
        for rule in webhook.event_filters:
            if rule["id"] == str(rule_id):
                return rule
        raise NotFound("No such filter rule on this webhook.")

    @extend_schema(
        parameters=[RULE_ID], responses=FilterRuleSerializer, operation_id="webhooks_filter_get"
    )
    def get(self, request, pk, rule_id):
        return Response(self._rule(_webhook(self, pk), rule_id))

    @extend_schema(
        parameters=[RULE_ID],
        request=FilterRuleSerializer(partial=True),
        responses=FilterRuleSerializer,
        operation_id="webhooks_filter_update",
    )
    def patch(self, request, pk, rule_id):
        webhook = _webhook(self, pk)
        serializer = FilterRuleSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            rule = webhook_filter_update(
                actor=self.actor,
                webhook=webhook,
                rule_id=str(rule_id),
                **serializer.validated_data,
            )
        except FilterNotFound:
            raise NotFound("No such filter rule on this webhook.") from None
        except DjangoValidationError as exc:
            raise _invalid(exc) from None
        return Response(rule)

    @extend_schema(
        parameters=[RULE_ID],
        request=None,
        responses={204: None},
        operation_id="webhooks_filter_delete",
    )
    def delete(self, request, pk, rule_id):
        try:
            webhook_filters_delete(
                actor=self.actor, webhook=_webhook(self, pk), rule_id=str(rule_id)
            )
        except FilterNotFound:
            raise NotFound("No such filter rule on this webhook.") from None
        return Response(status=status.HTTP_204_NO_CONTENT)
