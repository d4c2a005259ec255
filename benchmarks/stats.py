"""Percentiles and summaries, kept small and dependency-free."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, math.ceil(pct / 100 * len(ordered)) - 1)
    return ordered[rank]


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.1f} ms"


def weighted_percentile(samples: Sequence[tuple[float, float]], pct: float) -> float | None:
    """The smallest value with at least ``pct`` % of the weight at or below it; samples
    are (value, weight)."""
    ordered = sorted((value, weight) for value, weight in samples if weight > 0)
    if not ordered:
        return None
    wanted = pct / 100 * sum(weight for _, weight in ordered)
    seen = 0.0
    for value, weight in ordered:
        seen += weight
        if seen >= wanted:
            return value
    return ordered[-1][0]


def at_same_moments(values: Sequence[float], moments: Sequence[float], yardstick: Sequence[float],
                    yardstick_moments: Sequence[float],
                    slice_s: float) -> tuple[list[tuple[float, float]], list[float]]:
    """Two populations of values (each with the moment it belongs to) made comparable
    moment for moment: counted in slices of ``slice_s``, each slice of ``values`` weighs
    as many yardstick values as the slice holds, shared among its values. Returns the
    weighted values, and the yardstick's values in slices that ``values`` reach too."""
    def slice_of(moment: float) -> int:
        return math.floor(moment / slice_s)

    theirs, mine = Counter(map(slice_of, yardstick_moments)), Counter(map(slice_of, moments))
    weighted = [(value, theirs[slice_of(moment)] / mine[slice_of(moment)])
                for value, moment in zip(values, moments, strict=True)]
    kept = [value for value, moment in zip(yardstick, yardstick_moments, strict=True) if slice_of(moment) in mine]
    return weighted, kept
