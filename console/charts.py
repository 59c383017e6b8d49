"""Server-side SVG charts: a webhook's activity (its page) and the whole
platform's traffic (the dashboard). The console needs no JavaScript library
and no internet to draw them."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from deliveries.overview import HOURLY_CAP, Traffic
from deliveries.selectors import Bucket

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 52, 14, 34
COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "pending": "#9e9e9e",
    "unfinished": "#9e9e9e",
    "latency": "#1565c0",
    "rate": "#1565c0",
}


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten at or above value (at least 1)."""
    step = 1.0
    while True:
        for factor in (1, 2, 5):
            if factor * step >= value:
                return factor * step
        step *= 10


def activity_svg(buckets: Sequence[Bucket]) -> str:
    """Stacked bars of deliveries per hour (succeeded, failed, pending) on the
    left axis, and the mean attempt duration as a line on the right axis."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(buckets), 1)
    slot = plot_w / n
    top_count = _nice_ceiling(max((b.succeeded + b.failed + b.pending for b in buckets), default=0))
    top_ms = _nice_ceiling(max((b.avg_ms or 0 for b in buckets), default=0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" class="activity-chart" '
        'aria-label="Deliveries per hour by outcome, and mean attempt duration">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#ccc"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="10">{top_count:g}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="10">0</text>',
        f'<text x="{LEFT + plot_w + 6}" y="{TOP + 4}" font-size="10" '
        f'fill="{COLOURS["latency"]}">{top_ms:g} ms</text>',
        f'<text x="{LEFT + plot_w + 6}" y="{TOP + plot_h}" font-size="10" '
        f'fill="{COLOURS["latency"]}">0 ms</text>',
    ]
    points = []
    for i, bucket in enumerate(buckets):
        x = LEFT + i * slot
        y = TOP + plot_h
        label = bucket.start.strftime("%H:00")
        for name in ("succeeded", "failed", "pending"):
            count = getattr(bucket, name)
            if not count:
                continue
            h = plot_h * count / top_count
            y -= h
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[name]}"><title>{escape(label)}: '
                f"{count} {name}</title></rect>"
            )
        if bucket.avg_ms is not None:
            ly = TOP + plot_h - plot_h * bucket.avg_ms / top_ms
            points.append(f"{x + slot / 2:.1f},{ly:.1f}")
            parts.append(
                f'<circle cx="{x + slot / 2:.1f}" cy="{ly:.1f}" r="2.5" '
                f'fill="{COLOURS["latency"]}"><title>{escape(label)}: mean '
                f"{bucket.avg_ms:.0f} ms, max {bucket.max_ms} ms</title></circle>"
            )
        if i % 3 == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" '
                f'text-anchor="middle" font-size="10">{escape(label)}</text>'
            )
    if len(points) > 1:
        parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" '
            f'stroke="{COLOURS["latency"]}" stroke-width="1.5"/>'
        )
    legend_x = LEFT
    for name in ("succeeded", "failed", "pending", "latency"):
        label = "mean duration" if name == "latency" else name
        parts.append(
            f'<rect x="{legend_x}" y="{HEIGHT - 12}" width="10" height="10" '
            f'fill="{COLOURS[name]}"/><text x="{legend_x + 14}" y="{HEIGHT - 3}" '
            f'font-size="10">{label}</text>'
        )
        legend_x += 110
    parts.append("</svg>")
    return "".join(parts)


def _count_text(count: int) -> str:
    return f"more than {HOURLY_CAP:,}" if count > HOURLY_CAP else f"{count:,}"


def traffic_svg(traffic: Traffic) -> str:
    """Stacked bars of deliveries per hour (succeeded, failed, unfinished) on
    the left axis, and each hour's success rate (of its finished deliveries)
    as a line on the right axis, 0 to 100 %."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    hours = traffic.hours
    slot = plot_w / max(len(hours), 1)
    top = _nice_ceiling(max((h.succeeded + h.failed + h.unfinished for h in hours), default=0))
    rate = COLOURS["rate"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" class="traffic-chart" '
        'aria-label="Deliveries per hour by outcome, and the success rate">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#ccc"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="10">{top:g}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="10">0</text>',
        f'<text x="{LEFT + plot_w + 6}" y="{TOP + 4}" font-size="10" fill="{rate}">100 %</text>',
        f'<text x="{LEFT + plot_w + 6}" y="{TOP + plot_h}" font-size="10" fill="{rate}">0 %</text>',
    ]
    points = []
    for i, hour in enumerate(hours):
        x = LEFT + i * slot
        y = TOP + plot_h
        label = hour.start.strftime("%H:00")
        for name in ("succeeded", "failed", "unfinished"):
            count = getattr(hour, name)
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[name]}"><title>{escape(label)} UTC: '
                f"{_count_text(count)} {name}</title></rect>"
            )
        finished = hour.succeeded + hour.failed
        if finished:
            share = hour.succeeded / finished
            cx, cy = x + slot / 2, TOP + plot_h - plot_h * share
            points.append(f"{cx:.1f},{cy:.1f}")
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.5" fill="{rate}"><title>'
                f"{escape(label)} UTC: {100 * share:.1f} % of {_count_text(finished)} "
                "finished succeeded</title></circle>"
            )
        if i % 3 == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" '
                f'text-anchor="middle" font-size="10">{escape(label)}</text>'
            )
    if len(points) > 1:
        parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{rate}" '
            'stroke-width="1.5"/>'
        )
    legend_x = LEFT
    for name, text in (
        ("succeeded", "succeeded"),
        ("failed", "failed"),
        ("unfinished", "pending or sending"),
        ("rate", "success rate"),
    ):
        parts.append(
            f'<rect x="{legend_x}" y="{HEIGHT - 12}" width="10" height="10" '
            f'fill="{COLOURS[name]}"/><text x="{legend_x + 14}" y="{HEIGHT - 3}" '
            f'font-size="10">{text}</text>'
        )
        legend_x += 130
    parts.append("</svg>")
    return "".join(parts)
