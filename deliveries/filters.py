"""List filters (django-filter). An invalid value is a 400 naming the filter."""

from __future__ import annotations

import django_filters as filters
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from core.filters import UTCDateTimeFilter
from deliveries.models import Delivery, DeliveryStatus, Event, IncidentState
from deliveries.search import SearchError, deliveries_matching, within_window, worker_q


class DeliveryFilter(filters.FilterSet):
    webhook = filters.UUIDFilter(field_name="webhook_id")
    event = filters.UUIDFilter(field_name="event_id")
    event_type = filters.CharFilter(field_name="event__type")
    # No DISTINCT (django-filter's default for this filter): status is a
    # column of the row, so no duplicates can arise, and bulk operations lock
    # the rows (SELECT … FOR UPDATE refuses DISTINCT on PostgreSQL).
    status = filters.MultipleChoiceFilter(choices=DeliveryStatus.choices, distinct=False)
    http_status = filters.NumberFilter(field_name="last_status_code")
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")
    worker = filters.CharFilter(
        method="filter_worker",
        help_text="Deliveries with an attempt sent by this worker: host:pid, or a host for all "
        "its processes. Looks back API_DELIVERY_SEARCH_DAYS days unless created_after is given.",
    )
    search = filters.CharFilter(
        method="filter_search",
        help_text="Words (at most 5), each found case-insensitively in the event type, the "
        "last error or the webhook's payload URL. Looks back API_DELIVERY_SEARCH_DAYS days "
        "unless created_after is given.",
    )

    class Meta:
        model = Delivery
        fields = [
            "webhook",
            "event",
            "event_type",
            "status",
            "http_status",
            "created_after",
            "created_before",
            "worker",
            "search",
        ]

    def _windowed(self, queryset: QuerySet[Delivery]) -> QuerySet[Delivery]:
        # Both filters may set it; applying it twice is the same range.
        bounded = self.form.cleaned_data.get("created_after") is not None
        return within_window(queryset, bounded=bounded, now=timezone.now())

    def filter_worker(self, queryset: QuerySet[Delivery], name: str, value: str):
        value = value.strip()
        if not value:
            return queryset
        try:
            return self._windowed(queryset).filter(worker_q(value))
        except SearchError as exc:
            raise ValidationError({"worker": [str(exc)]}) from None

    def filter_search(self, queryset: QuerySet[Delivery], name: str, value: str):
        try:
            matching = deliveries_matching(queryset, value)
        except SearchError as exc:
            raise ValidationError({"search": [str(exc)]}) from None
        return self._windowed(matching) if value.strip() else queryset


class EventFilter(filters.FilterSet):
    type = filters.CharFilter()
    type_prefix = filters.CharFilter(field_name="type", lookup_expr="startswith")
    account = filters.UUIDFilter(field_name="account_id")
    domain = filters.UUIDFilter(field_name="domain_id")
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")
    occurred_after = UTCDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UTCDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    # An incident's events (alarms): the partial index event_incident.
    incident_key = filters.CharFilter()
    incident_state = filters.ChoiceFilter(choices=IncidentState.choices)

    class Meta:
        model = Event
        fields = [
            "type",
            "type_prefix",
            "account",
            "domain",
            "created_after",
            "created_before",
            "occurred_after",
            "occurred_before",
            "incident_key",
            "incident_state",
        ]
