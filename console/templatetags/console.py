"""Template filters of the console's pages: `{{ value|moment }}` shows a time
as everywhere else in the console (console.dates)."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.safestring import SafeString

from console import dates

register = template.Library()


@register.filter
def moment(value: dt.datetime | None) -> SafeString:
    return dates.moment(value)
