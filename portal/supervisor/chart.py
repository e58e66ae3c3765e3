"""Geometry of the opened/resolved bar chart, computed here so the template only draws.

The chart is plain SVG markup in the page (no script, no inline style): bars, grid lines and
labels with coordinates in a fixed viewBox; CSS classes give the colours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 14, 18, 36


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str  # "opened" or "resolved"
    label: str  # the bar's tooltip, e.g. "3 Jun: 5 opened"


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class XLabel:
    x: float
    text: str
    anchor: str = "middle"  # SVG text-anchor; the last label ends at the right edge so it is never cut off


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    bars: tuple
    ticks: tuple
    labels: tuple
    description: str
    empty: bool


def day_label(day) -> str:
    """'3 Jun': short, and the same on every platform (strftime's %-d is not)."""
    return f"{day.day} {day:%b}"


def nice_top(peak: int) -> tuple:
    """(axis maximum, tick step): a step of 1, 2 or 5 times a power of ten, at most 5 steps."""
    if peak <= 0:
        return 4, 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            candidate = step * factor
            if math.ceil(peak / candidate) <= 5:
                return math.ceil(peak / candidate) * candidate, candidate
        step *= 10


def opened_resolved(days) -> Chart:
    """A grouped bar chart of `days` (supervisor.services.Day, oldest first)."""
    days = list(days)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top, step = nice_top(max([d.opened for d in days] + [d.resolved for d in days] + [0]))
    slot = plot_w / max(len(days), 1)
    bar_w = slot * 0.38

    def y_of(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    bars = []
    for i, d in enumerate(days):
        x = LEFT + i * slot + slot * 0.1
        for offset, series, value in ((0, "opened", d.opened), (bar_w + slot * 0.04, "resolved", d.resolved)):
            if value:
                bars.append(Bar(round(x + offset, 1), round(y_of(value), 1), round(bar_w, 1),
                                round(plot_h * value / top, 1), series, f"{day_label(d.day)}: {value} {series}"))
    ticks = tuple(Tick(round(y_of(v), 1), v) for v in range(0, top + 1, step))
    last = len(days) - 1
    labels = tuple(XLabel(WIDTH - RIGHT, day_label(d.day), "end") if i == last
                   else XLabel(round(LEFT + (i + 0.5) * slot, 1), day_label(d.day))
                   for i, d in enumerate(days) if (last - i) % 7 == 0)
    return Chart(WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, TOP, TOP + plot_h, tuple(bars), ticks, labels,
                 describe(days), not any(d.opened or d.resolved for d in days))


def describe(days) -> str:
    """The chart in words, for screen readers and as its caption."""
    if not days:
        return "No days to show."
    span = f"from {day_label(days[0].day)} to {day_label(days[-1].day)}"
    opened = sum(d.opened for d in days)
    resolved = sum(d.resolved for d in days)
    if not opened and not resolved:
        return f"No tickets were opened or resolved {span}."
    busiest = max(days, key=lambda d: d.opened)
    text = f"{opened} tickets opened and {resolved} resolved {span}."
    if busiest.opened:
        text += f" Most opened on {day_label(busiest.day)} ({busiest.opened})."
    return text
