"""The overview's two small plots, drawn by the server as inline SVG (no script, no files).

Only numbers and our own labels go into the SVG, each escaped, so a plot can hold no markup
from the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from markupsafe import Markup, escape

from adapters.sql.day_history import LagSample

WIDTH, HEIGHT = 480, 140
#: Room for the axis labels: left, right, top, bottom.
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 22
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
BASE = TOP + PLOT_H


def duration(seconds: int) -> str:
    """``1d2h``, ``3h4m``, ``5m6s`` or ``7s``, as ``calsync status`` writes ages."""
    days, rest = divmod(max(0, int(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def parked_bars(counts: Sequence[int], title: str) -> Markup:
    """One bar per hour, oldest left; each bar's tooltip says its hour and count."""
    top = max(max(counts, default=0), 1)
    slot = PLOT_W / max(len(counts), 1)
    bars = []
    for i, n in enumerate(counts):
        height = PLOT_H * n / top
        x, y = LEFT + i * slot + 1, TOP + PLOT_H - height
        hours_ago = len(counts) - i
        bars.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot - 2:.1f}" '
            f'height="{height:.1f}"><title>{hours_ago}h to {hours_ago - 1}h ago: {n}</title></rect>'
        )
    return _frame(title, str(top), _hour_ticks(len(counts)), "".join(bars))


def lag_lines(samples: Sequence[LagSample], start: datetime, end: datetime, title: str) -> Markup:
    """Max (solid) and average (dashed) lag of every sample, on one time axis."""
    if not samples:
        return _frame(
            title,
            "-",
            _hour_ticks(24),
            _empty("no samples yet: the scheduler takes one every 5 minutes"),
        )
    top = max(1, *(s.max_lag_seconds for s in samples))
    span = max((end - start).total_seconds(), 1.0)

    def points(values: Sequence[tuple[datetime, int]]) -> str:
        return " ".join(
            f"{LEFT + PLOT_W * (at - start).total_seconds() / span:.1f},"
            f"{TOP + PLOT_H - PLOT_H * v / top:.1f}"
            for at, v in values
        )

    worst = points([(s.at, s.max_lag_seconds) for s in samples])
    mean = points([(s.at, s.avg_lag_seconds) for s in samples])
    last = samples[-1]
    body = (
        f'<polyline class="max" points="{worst}"><title>max lag</title></polyline>'
        f'<polyline class="avg" points="{mean}"><title>average lag</title></polyline>'
        f'<text x="{WIDTH - RIGHT}" y="{TOP + 10}" text-anchor="end">now: max '
        f"{duration(last.max_lag_seconds)}, avg {duration(last.avg_lag_seconds)}</text>"
    )
    hours = round(span / 3600) or 1
    return _frame(title, duration(top), _hour_ticks(hours), body)


def _hour_ticks(hours: int) -> list[tuple[float, str]]:
    step = max(hours // 4, 1)
    return [
        (LEFT + PLOT_W * (hours - ago) / hours, "now" if ago == 0 else f"-{ago}h")
        for ago in range(hours, -1, -step)
    ]


def _empty(text: str) -> str:
    x, y = LEFT + PLOT_W / 2, TOP + PLOT_H / 2
    return f'<text x="{x}" y="{y}" text-anchor="middle">{escape(text)}</text>'


def _frame(title: str, top_label: str, ticks: list[tuple[float, str]], body: str) -> Markup:
    labels = "".join(
        f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{escape(label)}</text>'
        for x, label in ticks
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<line class="axis" x1="{LEFT}" y1="{BASE}" x2="{WIDTH - RIGHT}" y2="{BASE}"/>'
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + PLOT_H}"/>'
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{escape(top_label)}</text>'
        f'<text x="{LEFT - 4}" y="{TOP + PLOT_H}" text-anchor="end">0</text>'
        f"{labels}{body}</svg>"
    )
    return Markup(svg)  # noqa: S704 - built above from numbers and escaped text only


def day_window(now: datetime, hours: int = 24) -> tuple[datetime, datetime]:
    return now - timedelta(hours=hours), now
