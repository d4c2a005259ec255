"""``make bench`` / ``python -m benchmarks``: run the scenarios, print and save a table.

Every scenario starts its own webtrace (``python -m webtrace`` on a unix socket,
the stamped ping first on its PATH) and measures it with an asyncio/aiohttp load
generator in this process; the floor runs in a process of its own. Targets are
loopback only. ``--smoke`` runs every scenario at a tiny size (part of make test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


from .continuous import continuous_followers, continuous_memory, continuous_pings
from .budgets import budget_hits
from .formats import comparisons, result_formats
from .harness import RESULTS, run
from .load import cpu_per_line, latency_over_floor, median_round
from .page import paths_page
from .parts import node_parts
from .scenarios import disconnect_storm, followers, mtr_crowd, mtr_first_hop, nodes_fanout, ping_streams, refused_rate
from .store import store_flushes


FULL: dict[str, Callable[[Path], Any]] = {
    "ping-100": lambda w: ping_streams(w, 100, 0),
    "ping-500-over-10s": lambda w: median_round(3, lambda: ping_streams(w, 500, 10), latency_over_floor),
    "ping-500-over-10s-text": lambda w: median_round(
        3, lambda: ping_streams(w, 500, 10, sse=False), latency_over_floor),
    "ping-1000": lambda w: ping_streams(w, 1000, 0),
    # The same crowd as `make run` serves it: every run recorded in SQLite.
    "ping-1000-results": lambda w: ping_streams(w, 1000, 0, results=True),
    # Long streams: the CPU of a line itself, with a request's cost spread over 50.
    "ping-100-long": lambda w: ping_streams(w, 100, 0, count=50),
    "ping-2000": lambda w: ping_streams(w, 2000, 0),
    # Hop names and both databases on: ping has no hops, so this is their cost when unused.
    "ping-500-over-10s-names": lambda w: median_round(
        3, lambda: ping_streams(w, 500, 10, directory=True), latency_over_floor),
    # An mtr crowd without and with names and databases, in the same run.
    "mtr-200": lambda w: median_round(3, lambda: mtr_crowd(w, 200, 10, directory=False), cpu_per_line),
    "mtr-200-names": lambda w: median_round(3, lambda: mtr_crowd(w, 200, 10, directory=True), cpu_per_line),
    # Results in the default store (SQLite) against results off, in the same run.
    "ping-500-over-10s-results": lambda w: median_round(
        3, lambda: ping_streams(w, 500, 10, results=True), latency_over_floor),
    # The SQLite store alone: 1000 runs at once written into a file of 50000 earlier results.
    "store-flush-1000": lambda w: store_flushes(w, 1000, 6, 50000),
    "followers-1000": lambda w: median_round(3, lambda: followers(w, 1000, 10), lambda r: float(r["p99_lag"])),
    # Vantage points: 200 visitors at once, each from two nodes through a front; 25 visitors on
    # each node directly and 25 through nginx, each starting with one of the front's parts there.
    "nodes-200": lambda w: nodes_fanout(w, 200, 50, rounds=30),
    # The same crowd arriving over 5 s: what the front adds when the cores are not all taken.
    "nodes-200-over-5s": lambda w: nodes_fanout(w, 200, 50, spread=5, rounds=5),
    # A front's part alone, 2000 one after another against a bare node: its set-up, and a line relayed.
    "node-parts-2000": lambda w: node_parts(2000),
    # The in-memory budgets: one run's hit, 50 a second, beside 1, 100 and 1000 other clients.
    "budget-hits": lambda w: budget_hits(300),
    "refused-429": lambda w: median_round(3, lambda: refused_rate(w, 5, 50), lambda r: float(r["ratio"])),
    "disconnect-storm-500": lambda w: disconnect_storm(w, 500),
    "mtr-first-hop": lambda w: mtr_first_hop(w, 10),
    # A result at WEBTRACE_RESULT_MAX_BYTES read in each format.
    "formats-2MiB": lambda w: result_formats(w),
    # Two 30-hop mtr results against each other (a 10-cycle run, and two at the size cap).
    "compare-mtr-30": lambda w: comparisons(w),
    # The page drawing mtr from four nodes over 30 hops side by side, a cycle a second, in Chromium.
    "page-paths-4x30": lambda w: paths_page(w),
    # Continuous runs: 100 pings for a minute against ordinary ones; 200 followers of one
    # continuous mtr; 20 continuous mtr runs for the most one may last (600 s), memory sampled.
    "continuous-ping-100-60s": lambda w: continuous_pings(w, 100, 60),
    "continuous-followers-200": lambda w: continuous_followers(w, 200, 60),
    "continuous-memory-600s": lambda w: continuous_memory(w, 20, 600),
}


SMOKE: dict[str, Callable[[Path], Any]] = {
    "ping-10": lambda w: median_round(2, lambda: ping_streams(w, 10, 0.5), latency_over_floor),
    "ping-10-text": lambda w: ping_streams(w, 10, 0, sse=False),  # at once: bare headers too
    "refused-429": lambda w: refused_rate(w, 1, 8),
    "disconnect-storm-5": lambda w: disconnect_storm(w, 5),
    "mtr-first-hop": lambda w: mtr_first_hop(w, 2),
    "mtr-5-names": lambda w: mtr_crowd(w, 5, 2, directory=True),
    "ping-10-results": lambda w: ping_streams(w, 10, 0.5, results=True),
    "followers-10": lambda w: followers(w, 10, 2),
    "store-flush-10": lambda w: store_flushes(w, 10, 2, 100),
    "nodes-5": lambda w: nodes_fanout(w, 5, 4),
    "node-parts-20": lambda w: node_parts(20),
    "budget-hits": lambda w: budget_hits(10, clients=(10,)),
    "formats-64KiB": lambda w: result_formats(w, 65536),
    "compare-mtr-30": lambda w: comparisons(w, reads=1),
    "page-paths-4x30": lambda w: paths_page(w, cycles=3, interval=0.2),
    "continuous-ping-3": lambda w: continuous_pings(w, 3, 2),
    "continuous-followers-5": lambda w: continuous_followers(w, 5, 2),
    "continuous-memory-2": lambda w: continuous_memory(w, 2, 3),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="every scenario at a tiny size")
    parser.add_argument("--only", nargs="*", help="scenario names to run")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    scenarios = SMOKE if args.smoke else FULL
    names = args.only or list(scenarios)
    results = asyncio.run(run(names, scenarios))
    out = args.out or RESULTS / ("smoke.json" if args.smoke else "latest.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
