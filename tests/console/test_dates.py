"""One way to show a time (console.dates)."""

import datetime as dt

from django.utils import formats

from console.dates import compact, iso, moment, time_field


def test_a_time_is_day_month_year_and_time_in_utc():
    value = dt.datetime(2026, 12, 1, 14, 13, 37, 123456, tzinfo=dt.UTC)
    assert compact(value) == "1 Dec 2026 14:13:37"
    east = dt.timezone(dt.timedelta(hours=2))
    assert compact(value.astimezone(east)) == "1 Dec 2026 14:13:37"
    assert compact(dt.datetime(2025, 3, 9, 8, 0, tzinfo=dt.UTC)) == "9 Mar 2025 08:00:00"


def test_django_renders_times_the_same_way_on_the_pages_the_console_does_not_draw():
    value = dt.datetime(2026, 12, 1, 14, 13, 37, tzinfo=dt.UTC)
    assert formats.localize(value) == compact(value)


def test_the_full_time_is_iso_in_utc_to_the_microsecond():
    value = dt.datetime(2026, 12, 1, 14, 13, 37, 123456, tzinfo=dt.UTC)
    assert iso(value) == "2026-12-01T14:13:37.123456Z"


def test_moment_is_a_time_element_with_the_full_time_on_hover():
    value = dt.datetime(2026, 12, 1, 14, 13, 37, tzinfo=dt.UTC)
    html = moment(value)
    assert html.startswith('<time datetime="2026-12-01T14:13:37Z" title="2026-12-01T14:13:37Z">')
    assert moment(None) == "-"


def test_a_time_field_is_a_sortable_admin_column():
    class Row:
        created_at = dt.datetime(2026, 12, 1, 14, 13, 37, tzinfo=dt.UTC)

    column = time_field("created_at", "created")
    assert column.short_description == "created" and column.admin_order_field == "created_at"
    assert "<time" in column(None, Row())
    assert not hasattr(time_field("x", "x", ordering=False), "admin_order_field")
