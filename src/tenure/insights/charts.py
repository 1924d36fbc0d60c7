"""Chart geometry for the insights page: computed here, drawn as inline SVG by the template.

No JavaScript and no network: every chart is plain SVG with a table (and CSV) beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenure.insights.categories import CATEGORIES

# One colour per reason, distinguishable in print and for most colour-blind readers.
PALETTE: dict[str, str] = {
    "too_expensive": "#4263eb",
    "missing_features": "#f59f00",
    "switched_service": "#e03131",
    "unused": "#2f9e44",
    "customer_service": "#9c36b5",
    "too_complex": "#1098ad",
    "low_quality": "#f76707",
    "other": "#868e96",
    "payment_failed": "#343a40",
    "payment_disputed": "#c2255c",
    "unspecified": "#ced4da",
}
WIDTH, HEIGHT, GUTTER = 720, 220, 4


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    rects: list[Rect]
    labels: list[tuple[float, str]]  # x position and text under each column
    maximum: int


def colour(key: str) -> str:
    return PALETTE.get(key, "#495057")


def stacked_periods(by_period: list[dict[str, Any]], label: Any) -> Chart:
    """Columns per period, stacked by reason (standard reasons first, in their usual order)."""
    periods = by_period or []
    maximum = max((row["count"] for row in periods), default=0)
    count = max(len(periods), 1)
    column = WIDTH / count
    rects: list[Rect] = []
    labels: list[tuple[float, str]] = []
    order = list(CATEGORIES)
    for index, row in enumerate(periods):
        x = index * column + GUTTER / 2
        y = float(HEIGHT)
        for reason in sorted(row["by_feedback"], key=lambda r: order.index(r) if r in order else len(order)):
            value = row["by_feedback"][reason]
            height = HEIGHT * value / maximum if maximum else 0
            y -= height
            rects.append(
                Rect(
                    x,
                    y,
                    max(column - GUTTER, 1),
                    height,
                    colour(reason),
                    f"{label(row['start'])}: {reason} {value}",
                )
            )
        labels.append((x + (column - GUTTER) / 2, label(row["start"])))
    return Chart(WIDTH, HEIGHT, rects, labels, maximum)


def horizontal_bars(rows: list[tuple[str, int, str]]) -> Chart:
    """One bar per row: (key, value, caption)."""
    maximum = max((value for _, value, _ in rows), default=0)
    bar = 22
    rects = [
        Rect(
            0,
            index * (bar + GUTTER),
            (WIDTH - 160) * value / maximum if maximum else 0,
            bar,
            colour(key),
            f"{caption}: {value}",
        )
        for index, (key, value, caption) in enumerate(rows)
    ]
    return Chart(WIDTH, max(len(rows), 1) * (bar + GUTTER), rects, [], maximum)
