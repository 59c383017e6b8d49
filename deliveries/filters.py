"""List filters (django-filter). An invalid value is a 400 naming the filter."""

from __future__ import annotations

import django_filters as filters

from core.filters import UTCDateTimeFilter
from deliveries.models import Delivery, DeliveryStatus, Event, IncidentState


class DeliveryFilter(filters.FilterSet):
    webhook = filters.UUIDFilter(field_name="webhook_id")
    event = filters.UUIDFilter(field_name="event_id")
    event_type = filters.CharFilter(field_name="event__type")
    status = filters.MultipleChoiceFilter(choices=DeliveryStatus.choices)
    http_status = filters.NumberFilter(field_name="last_status_code")
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")

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
        ]


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
