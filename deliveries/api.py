"""REST API for events and deliveries (/api/v1/). Views stay thin: writes go
through deliveries.publishing and deliveries.pipeline.operator."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import StrictOrderingFilter
from core.validated import validated
from deliveries import teardown
from deliveries.callhooks.api import CallHookMixin
from deliveries.filters import DeliveryFilter, EventFilter
from deliveries.http import SendResult
from deliveries.jobs_api import BulkActionsMixin
from deliveries.models import Delivery, Event
from deliveries.pipeline.health import webhook_resume
from deliveries.pipeline.operator import (
    DeliveryInFlight,
    delivery_redeliver,
    webhook_test_send,
)
from deliveries.publishing import EventActor, EventConflict, event_publish
from deliveries.removal import deliveries_delete
from deliveries.selectors import webhook_held_count
from deliveries.serializers import (
    DeliveryDetailSerializer,
    DeliverySerializer,
    EventBatchSerializer,
    EventDetailSerializer,
    EventPublishSerializer,
    EventSerializer,
    PublishedSerializer,
    RedeliverResultSerializer,
    TestDeliveryOverridesSerializer,
)
from hooks import api as hooks_api
from hooks.models import Role, Webhook
from hooks.permissions import ActorMixin
from hooks.serializers import (
    TestResultSerializer,
    TestURLSerializer,
    WebhookSerializer,
)
from hooks.services import webhook_check_scope, webhook_update


def conflict(message: str) -> Response:
    return Response({"detail": message}, status=status.HTTP_409_CONFLICT)


class EventViewSet(
    CallHookMixin,
    ActorMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    call_hook_verbs = {"create": "publish", "batch": "publishBatch"}
    filterset_class = EventFilter
    search_fields = ["type", "resource_id"]
    ordering_fields = ["created_at", "occurred_at", "type"]
    ordering = ["-created_at"]

    def get_serializer_class(self):
        if self.action == "retrieve":
            return EventDetailSerializer
        if self.action == "create":
            return EventPublishSerializer
        if self.action == "batch":
            return EventBatchSerializer
        return EventSerializer

    def get_queryset(self):
        visible = self.actor.visible(account_field="account", domain_field="domain")
        qs = Event.objects.filter(visible)
        if self.action == "retrieve":
            # Only the deliveries the caller may see: one event can reach other
            # tenants' domain and global webhooks.
            deliveries = Delivery.objects.filter(
                self.actor.visible(account_field="webhook__account", domain_field="webhook__domain")
            ).select_related("event")
            qs = qs.prefetch_related(Prefetch("deliveries", queryset=deliveries))
        return qs

    def _check_may_publish(self, items: list[dict]) -> None:
        if self.actor.role is None:
            raise PermissionDenied("You belong to no account, so you cannot publish.")
        if self.actor.role == Role.USER and any(
            item.get("account") is None and item.get("domain") is not None for item in items
        ):
            raise PermissionDenied("Users publish events of their own account only.")
        if not self.actor.is_admin:
            # Admins are producers: they say which of their users acted. A
            # user's token speaks for that user only, so audit trails built on
            # the actor cannot be forged from a tenant's own token.
            own = EventActor.of_user(self.actor.user)
            for item in items:
                if "actor" in item and _actor_from(item["actor"]) != own:
                    raise PermissionDenied(
                        "Users publish as themselves: leave actor out, or give your own "
                        f"id ({own.id}) and name."
                    )

    def _publish(self, data: dict):
        account = data.get("account")
        # Callers publish for their own account by default, root admins too
        # (so their local webhooks receive what they publish, as the webhook
        # list's event_type filter says). A root admin's explicit
        # "account": null publishes an event of no account (global webhooks
        # only); anyone else's still gets their own account.
        defaulted = "account" not in data or not self.actor.is_root
        if account is None and data.get("domain") is None and defaulted:
            account = self.actor.own_account
        resource = data.get("resource") or {}
        return event_publish(
            type=data["type"],
            data=data.get("data", {}),
            account=account,
            domain=None if account else data.get("domain"),
            resource_id=resource.get("id", ""),
            resource_type=resource.get("type", ""),
            occurred_at=data.get("timestamp"),
            event_id=data.get("id"),
            actor=_actor_from(data["actor"]) if "actor" in data else self._caller(),
            incident_key=data.get("incident_key", ""),
            incident_state=data.get("incident_state", ""),
        )

    def _caller(self) -> EventActor | None:
        user = self.actor.user
        return EventActor.of_user(user) if user is not None and user.is_authenticated else None

    @extend_schema(
        request=EventPublishSerializer,
        responses={202: PublishedSerializer, 200: PublishedSerializer},
        description="Publish an event. 202 when stored; 200 when this id was already "
        "published with the same contents; 409 when with different contents.",
    )
    def create(self, request, *args, **kwargs):
        data = validated(EventPublishSerializer, request.data, context={"request": request})
        self._check_may_publish([data])
        try:
            result = self._publish(data)
        except EventConflict as exc:
            return conflict(str(exc))
        return Response(
            {
                "id": str(result.event.id),
                "deliveries": result.delivery_count,
                "created": result.created,
            },
            status=status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK,
        )

    @extend_schema(request=EventBatchSerializer, responses={202: PublishedSerializer(many=True)})
    @action(detail=False, methods=["post"])
    def batch(self, request):
        """Publish up to API_EVENT_BATCH_MAX events at once: all or none."""
        body = validated(EventBatchSerializer, request.data, context={"request": request})
        events = body["events"]
        self._check_may_publish(events)
        results = []
        try:
            with transaction.atomic():
                for index, item in enumerate(events):
                    try:
                        results.append(self._publish(item))
                    except EventConflict as exc:
                        raise EventConflict(f"events[{index}]: {exc}") from None
        except EventConflict as exc:
            return conflict(str(exc))
        return Response(
            [
                {"id": str(r.event.id), "deliveries": r.delivery_count, "created": r.created}
                for r in results
            ],
            status=status.HTTP_202_ACCEPTED,
        )


class DeliveryViewSet(
    BulkActionsMixin,
    CallHookMixin,
    ActorMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    filterset_class = DeliveryFilter
    # ?search= is DeliveryFilter's (bounded, with the payload URL): not
    # DRF's SearchFilter, which would search the whole table.
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    ordering_fields = [
        "created_at",
        "finished_at",
        "next_attempt_at",
        "attempts",
        "status",
        "last_status_code",
    ]
    ordering = ["-created_at"]

    def get_serializer_class(self):
        return DeliveryDetailSerializer if self.action == "retrieve" else DeliverySerializer

    def get_queryset(self):
        visible = self.actor.visible(
            account_field="webhook__account", domain_field="webhook__domain"
        )
        qs = Delivery.objects.filter(visible).select_related("event")
        if self.action == "retrieve":
            qs = qs.prefetch_related("attempt_set")
        return qs

    def destroy(self, request, *args, **kwargs):
        delivery = self.get_object()
        if not deliveries_delete(deliveries=Delivery.objects.filter(pk=delivery.pk)):
            return conflict("The delivery is being sent right now; try again shortly.")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=RedeliverResultSerializer)
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        """One more attempt now, recorded, with the same webhook-id."""
        delivery = self.get_object()
        try:
            delivery, attempt = delivery_redeliver(delivery=delivery)
        except DeliveryInFlight as exc:
            return conflict(str(exc))
        return Response(RedeliverResultSerializer({"delivery": delivery, "attempt": attempt}).data)


class WebhookViewSet(CallHookMixin, hooks_api.WebhookViewSet):
    # /webhooks/: hooks' webhook API plus what needs the delivery table,
    # which hooks never imports: the held count on the detail, resume, and
    # re-enabling that drains what was held. webhooks_project/urls.py routes
    # /webhooks/ here. (Comments, not a docstring: a docstring would become
    # the description of every webhook operation in the OpenAPI schema.)

    def _counted(self, webhook: Webhook) -> Webhook:
        # The detail only: a capped count per held webhook is cheap for one
        # row, not for every row of a list page.
        # read by WebhookSerializer's health object; not a model field
        webhook.held_deliveries = webhook_held_count(webhook, now=timezone.now())  # type: ignore[attr-defined]
        return webhook

    def retrieve(self, request, *args, **kwargs):
        return Response(self.get_serializer(self._counted(self.get_object())).data)

    def remove(self, webhook):
        # Its deliveries in bounded batches, whatever the workers are doing.
        teardown.webhook_delete(webhook=webhook)

    @transaction.atomic
    def perform_update(self, serializer):
        webhook = serializer.instance
        changes = dict(serializer.validated_data)
        if not webhook.enabled and changes.get("enabled") is True:
            # Re-enabling is resuming: failures forgotten, circuit closed, held
            # deliveries due now, webhook.recovered published. Before the
            # update, so it sees the webhook disabled; the update writes only
            # the fields it changes, so it keeps what resume wrote, and a
            # refused change (a 400 or 403 raised inside this transaction)
            # undoes the resume with it, event included.
            webhook = webhook_resume(webhook=webhook, now=timezone.now())
        updated = webhook_update(actor=self.actor, webhook=webhook, **changes)
        serializer.instance = self._counted(updated)

    @extend_schema(request=None, responses=WebhookSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Send to it again now: close the circuit, end throttling, forget
        the failures and enable it; its held deliveries become due (drained
        at its sending limit) and `webhook.recovered` is published. Who may
        update a webhook may resume it. A healthy webhook is left as it is."""
        webhook = self.get_object()
        webhook_check_scope(
            actor=self.actor, scope=webhook.scope, account=webhook.account, domain=webhook.domain
        )
        webhook = webhook_resume(webhook=webhook, now=timezone.now())
        return Response(self.get_serializer(self._counted(webhook)).data)


def test_result(response: SendResult) -> dict:
    return {
        "status_code": response.status_code,
        "ok": response.ok,
        "duration_ms": response.duration_ms,
        "response_headers": response.headers,
        "response_body": response.body.decode("utf-8", errors="replace"),
        "response_truncated": response.body_truncated,
        "error": "" if response.ok else response.summary,
    }


class WebhookTestView(CallHookMixin, ActorMixin, APIView):
    """POST /webhooks/{id}/test/: send a sample (or given) event now; not recorded."""

    call_hook_method = "webhook.test"

    @extend_schema(
        request=TestDeliveryOverridesSerializer,
        responses=TestResultSerializer,
        operation_id="webhooks_test",
        description="Send a sample (or given) event to the webhook now, not recorded. "
        "payload_url, secret and ssl_verification, when given, replace the webhook's for "
        "this send only (CloudStack's executeWebhookDelivery); the URL is vetted as any.",
    )
    def post(self, request, pk):
        visible = self.actor.visible(account_field="account", domain_field="domain")
        webhook = Webhook.objects.filter(visible, pk=pk).first()
        if webhook is None:
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        serializer = TestDeliveryOverridesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        given = serializer.validated_data
        response = webhook_test_send(
            webhook=webhook,
            event_type=given["type"],
            data=given["data"],
            payload_url=given.get("payload_url"),
            secret=given.get("secret"),
            ssl_verification=given.get("ssl_verification"),
        )
        return Response(test_result(response))


class URLTestView(CallHookMixin, ActorMixin, APIView):
    """POST /webhooks/test/: try a URL before creating a webhook (same vetting)."""

    call_hook_method = "webhook.testUrl"

    @extend_schema(
        request=TestURLSerializer, responses=TestResultSerializer, operation_id="webhooks_test_url"
    )
    def post(self, request):
        serializer = TestURLSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = self.actor.own_account
        webhook = Webhook(
            payload_url=data["payload_url"],
            secret=data["secret"],
            header_style=data["header_style"],
            payload_format=data["payload_format"],
            ssl_verification=data["ssl_verification"],
            headers=data["headers"],
            account=account,
            domain=account.domain if account else None,
        )
        response = webhook_test_send(webhook=webhook, event_type=data["type"], data=data["data"])
        return Response(test_result(response))


# hooks' tenant APIs, deleting through deliveries.teardown: in bounded
# batches, whatever the workers are doing, and their writes hooked calls
# (hooks cannot publish). These are the ones routed.
class AccountViewSet(CallHookMixin, hooks_api.AccountViewSet):
    def remove(self, account):
        teardown.account_delete(account=account)


class DomainViewSet(CallHookMixin, hooks_api.DomainViewSet):
    def remove(self, domain):
        teardown.domain_delete(domain=domain)


def _actor_from(given: dict | None) -> EventActor | None:
    """The actor an API caller named (null: no one)."""
    if given is None:
        return None
    return EventActor(id=given.get("id", ""), name=given.get("name", ""))


class UserViewSet(CallHookMixin, hooks_api.UserViewSet):
    pass


class TokenViewSet(CallHookMixin, hooks_api.TokenViewSet):
    pass
