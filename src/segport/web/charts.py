"""A segment's member-count trend as coordinates for an inline SVG line: no chart library, no script."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

WIDTH = 600
HEIGHT = 160
PADDING = 8
RANGES = {"7": "7 days", "30": "30 days", "90": "90 days", "365": "a year", "all": "all kept"}


@dataclass(frozen=True)
class Trend:
    points: str  # "x,y x,y ..." for <polyline points=...>
    dots: list[tuple[float, float, datetime, int]]  # each count, for its marker and its title
    lowest: int
    highest: int
    first: datetime
    last: datetime


def trend(counts: list[tuple[datetime, int]]) -> Trend | None:
    """Place the counts on a WIDTH x HEIGHT canvas: time across, members up; None without any count."""
    if not counts:
        return None
    first, last = counts[0][0], counts[-1][0]
    lowest = min(members for _, members in counts)
    highest = max(members for _, members in counts)
    span = (last - first).total_seconds() or 1.0
    rise = (highest - lowest) or 1
    usable_width, usable_height = WIDTH - 2 * PADDING, HEIGHT - 2 * PADDING
    dots = []
    for moment, members in counts:
        # One count alone sits in the middle; an unchanging count draws a flat line halfway up.
        x = PADDING + (usable_width * (moment - first).total_seconds() / span if len(counts) > 1 else usable_width / 2)
        y = PADDING + usable_height * (1 - ((members - lowest) / rise if highest > lowest else 0.5))
        dots.append((round(x, 1), round(y, 1), moment, members))
    return Trend(" ".join(f"{x},{y}" for x, y, _, _ in dots), dots, lowest, highest, first, last)
