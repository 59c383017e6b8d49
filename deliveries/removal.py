"""Deleting deliveries, for the API and the console alike."""

from __future__ import annotations

from django.db.models import QuerySet

from deliveries.models import Delivery, DeliveryStatus


def deliveries_delete(*, deliveries: QuerySet[Delivery]) -> int:
    """Delete these deliveries with their attempts, except those a worker is
    sending right now: its result must find its row. Returns how many went."""
    in_reach = deliveries.exclude(status=DeliveryStatus.SENDING).values("pk")
    _, by_model = Delivery.objects.filter(pk__in=in_reach).delete()
    return by_model.get(Delivery._meta.label, 0)
