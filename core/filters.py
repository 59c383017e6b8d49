"""django-filter pieces the apps share."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters as filters
from django import forms
from django_filters.fields import IsoDateTimeField


class _UTCIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value: Any) -> dt.datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError("Enter a date and time within years 1 to 9999.") from None


class UTCDateTimeFilter(filters.IsoDateTimeFilter):
    """An ISO 8601 date-time, compared in UTC.

    ISO 8601 and Python allow UTC offsets up to ±23:59; PostgreSQL refuses
    those past ±15:59 (a DataError, a 500), so the value is turned to UTC
    before it reaches the database.
    """

    field_class = _UTCIsoDateTimeField
