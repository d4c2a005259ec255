"""Percentiles and summaries, kept small and dependency-free."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, math.ceil(pct / 100 * len(ordered)) - 1)
    return ordered[rank]


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.1f} ms"
