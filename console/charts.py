"""Server-side SVG charts: a webhook's activity (its page) and the whole
platform's traffic (the dashboard). The console needs no JavaScript library
and no internet to draw them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Slot:
    """One hour of a chart: its stacked bars and its point on the right axis."""

    label: str
    bars: list[tuple[str, int, str]]  # (colour name, count, tooltip), bottom up
    point: tuple[float, str] | None  # (height as a share of the right axis, tooltip)


def _chart(
    *,
    css_class: str,
    aria: str,
    left_top: float,
    right: tuple[str, str, str],  # colour name, top label, bottom label
    slots: Sequence[_Slot],
    legend: Sequence[tuple[str, str]],
    legend_step: int,
) -> str:
    """Stacked bars per slot on the left axis (0 to left_top), a line of
    points on the right one, every third slot labelled, a legend below."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(slots), 1)
    line = COLOURS[right[0]]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" class="{css_class}" '
        f'aria-label="{aria}">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#ccc"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="10">{left_top:g}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="10">0</text>',
        f'<text x="{LEFT + plot_w + 6}" y="{TOP + 4}" font-size="10" '
        f'fill="{line}">{right[1]}</text>',
        f'<text x="{LEFT + plot_w + 6}" y="{TOP + plot_h}" font-size="10" '
        f'fill="{line}">{right[2]}</text>',
    ]
    points = []
    for i, s in enumerate(slots):
        x = LEFT + i * slot
        y: float = TOP + plot_h
        for name, count, title in s.bars:
            if not count:
                continue
            h = plot_h * count / left_top
            y -= h
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[name]}"><title>{title}</title></rect>'
            )
        if s.point is not None:
            share, title = s.point
            cx, cy = x + slot / 2, TOP + plot_h - plot_h * share
            points.append(f"{cx:.1f},{cy:.1f}")
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.5" fill="{line}"><title>'
                f"{title}</title></circle>"
            )
        if i % 3 == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" '
                f'text-anchor="middle" font-size="10">{escape(s.label)}</text>'
            )
    if len(points) > 1:
        parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{line}" '
            'stroke-width="1.5"/>'
        )
    legend_x = LEFT
    for name, text in legend:
        parts.append(
            f'<rect x="{legend_x}" y="{HEIGHT - 12}" width="10" height="10" '
            f'fill="{COLOURS[name]}"/><text x="{legend_x + 14}" y="{HEIGHT - 3}" '
            f'font-size="10">{text}</text>'
        )
        legend_x += legend_step
    parts.append("</svg>")
    return "".join(parts)


def activity_svg(buckets: Sequence[Bucket]) -> str:
    """A webhook's deliveries per hour by outcome (stacked bars, left axis)
    and each hour's mean attempt duration (a line, right axis)."""
    top_count = _nice_ceiling(max((b.succeeded + b.failed + b.pending for b in buckets), default=0))
    top_ms = _nice_ceiling(max((b.avg_ms or 0 for b in buckets), default=0))
    slots = []
    for b in buckets:
        label = b.start.strftime("%H:00")
        bars = [
            (name, getattr(b, name), f"{escape(label)}: {getattr(b, name)} {name}")
            for name in ("succeeded", "failed", "pending")
        ]
        point = None
        if b.avg_ms is not None:
            point = (
                b.avg_ms / top_ms,
                f"{escape(label)}: mean {b.avg_ms:.0f} ms, max {b.max_ms} ms",
            )
        slots.append(_Slot(label, bars, point))
    return _chart(
        css_class="activity-chart",
        aria="Deliveries per hour by outcome, and mean attempt duration",
        left_top=top_count,
        right=("latency", f"{top_ms:g} ms", "0 ms"),
        slots=slots,
        legend=[
            (n, "mean duration" if n == "latency" else n)
            for n in ("succeeded", "failed", "pending", "latency")
        ],
        legend_step=110,
    )


def _count_text(count: int) -> str:
    return f"more than {HOURLY_CAP:,}" if count > HOURLY_CAP else f"{count:,}"


def traffic_svg(traffic: Traffic) -> str:
    """Stacked bars of deliveries per hour (succeeded, failed, unfinished) on
    the left axis, and each hour's success rate (of its finished deliveries)
    as a line on the right axis, 0 to 100 %."""
    hours = traffic.hours
    top = _nice_ceiling(max((h.succeeded + h.failed + h.unfinished for h in hours), default=0))
    slots = []
    for hour in hours:
        label = hour.start.strftime("%H:00")
        bars = [
            (
                name,
                getattr(hour, name),
                f"{escape(label)} UTC: {_count_text(getattr(hour, name))} {name}",
            )
            for name in ("succeeded", "failed", "unfinished")
        ]
        finished = hour.succeeded + hour.failed
        point = None
        if finished:
            share = hour.succeeded / finished
            point = (
                share,
                f"{escape(label)} UTC: {100 * share:.1f} % of {_count_text(finished)} "
                "finished succeeded",
            )
        slots.append(_Slot(label, bars, point))
    return _chart(
        css_class="traffic-chart",
        aria="Deliveries per hour by outcome, and the success rate",
        left_top=top,
        right=("rate", "100 %", "0 %"),
        slots=slots,
        legend=[
            ("succeeded", "succeeded"),
            ("failed", "failed"),
            ("unfinished", "pending or sending"),
            ("rate", "success rate"),
        ],
        legend_step=130,
    )
