"""Round-trip statistics kept per hop, in the columns mtr shows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class RttStats:
    count: int = 0
    last: float | None = None
    best: float | None = None
    worst: float | None = None
    _sum: float = 0.0
    _sumsq: float = 0.0

    def add(self, rtt_ms: float) -> None:
        self.count += 1
        self.last = rtt_ms
        self.best = rtt_ms if self.best is None else min(self.best, rtt_ms)
        self.worst = rtt_ms if self.worst is None else max(self.worst, rtt_ms)
        self._sum += rtt_ms
        self._sumsq += rtt_ms * rtt_ms

    def columns(self) -> dict[str, Any]:
        if not self.count:
            return dict(last_ms=None, avg_ms=None, best_ms=None, worst_ms=None, stdev_ms=None)
        avg = self._sum / self.count
        variance = max(self._sumsq / self.count - avg * avg, 0.0)
        return dict(
            last_ms=_r(self.last),
            avg_ms=_r(avg),
            best_ms=_r(self.best),
            worst_ms=_r(self.worst),
            stdev_ms=_r(math.sqrt(variance)),
        )


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def loss_pct(lost: int, settled: int) -> float:
    return round(100.0 * lost / settled, 1) if settled else 0.0
