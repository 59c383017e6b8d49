"""One way to show a time in the console: compact ("1 Dec 2026 14:13:37"),
in UTC as everything here is, with the full time (ISO 8601, UTC, to the
microsecond) on hover and in the `<time datetime>` attribute, so it can be
copied exactly.

Django's own rendering ("Dec. 1, 2026, 2:13 p.m.") is replaced wherever
the console shows a time: list columns, object pages, its templates (the
`moment` filter, console/templatetags/console.py). Pages the console does
not draw (users, tokens, periodic tasks) get the same form without the
hover, from Django's formats (console/formats/en/formats.py).
"""

from __future__ import annotations

import datetime as dt

from django.utils.html import format_html
from django.utils.safestring import SafeString


def compact(value: dt.datetime) -> str:
    """`1 Dec 2026 14:13:37`, in UTC (Django's "j M Y H:i:s")."""
    value = value.astimezone(dt.UTC)
    return f"{value.day} {value:%b %Y %H:%M:%S}"


def iso(value: dt.datetime) -> str:
    """The full time, as the API gives it: 2026-12-01T14:13:37.123456Z."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def moment(value: dt.datetime | None, *, empty: str = "-") -> SafeString:
    """A time as HTML: the compact form, the full one on hover."""
    if value is None:
        return format_html("{}", empty)
    full = iso(value)
    return format_html('<time datetime="{}" title="{}">{}</time>', full, full, compact(value))


def time_field(name: str, description: str, *, ordering: bool = True):
    """A ModelAdmin column or read-only field showing the datetime field
    `name` as `moment` does: `created = time_field("created_at", "created")`
    in the class body, then "created" in list_display or readonly_fields."""

    def show(model_admin, obj) -> SafeString:
        return moment(getattr(obj, name))

    show.short_description = description  # type: ignore[attr-defined]
    if ordering:
        show.admin_order_field = name  # type: ignore[attr-defined]
    return show
