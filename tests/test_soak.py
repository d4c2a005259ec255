"""A short soak (``make soak`` runs the long one): half a minute of mixed load on a
real server, and nothing grows: memory, descriptors, threads, processes, zombies.
What a short soak finds (a descriptor, a thread or a process left behind by some
kind of visit) it finds in its first seconds; slow growth is the long soak's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.soak import soak, summary

pytestmark = pytest.mark.slow

DURATION_S = float(os.environ.get("WEBTRACE_SOAK_S", "30"))


async def test_half_a_minute_of_mixed_load_leaves_nothing_growing(tmp_path: Path) -> None:
    report = await soak(DURATION_S, tmp_path, warm_up_s=10)
    result = summary(report)
    assert report.failures == [], result
    kinds = set(report.requests)
    # Every kind of visit happened: runs on both sinks, checks, departures, refusals.
    assert {"sse ping", "sse traceroute", "sse mtr", "text ping", "check", "policy", "malformed", "unknown",
            "flood"} <= kinds, kinds
    assert {k for k in kinds if k.startswith("leave")} >= {"leave headers", "leave first_line", "leave mid_run"}
    assert {200, 204, 400, 403, 404, 429} <= set(report.statuses)
    assert report.idle_after is not None and report.idle_after.zombies == 0
