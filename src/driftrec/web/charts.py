"""Inline SVG line charts, so the dashboard needs no JavaScript library."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LineChart:
    """An SVG polyline of ``values`` over ``[0, len)``, scaled to the box."""

    points: str
    width: int
    height: int
    y_max: float


def line_chart(values: list[float], width: int = 640, height: int = 160,
               pad: int = 8) -> LineChart | None:
    if len(values) < 2:
        return None
    y_max = max(max(values), 1e-9)
    step = (width - 2 * pad) / (len(values) - 1)
    pts = " ".join(f"{pad + i * step:.1f},{height - pad - (v / y_max) * (height - 2 * pad):.1f}"
                   for i, v in enumerate(values))
    return LineChart(pts, width, height, y_max)
