"""A front's part on a node, alone: the CPU a front spends asking a node for a run and
passing its stream on, with nothing else in the process.

``python -m benchmarks.parts N LINES`` starts a bare node (``benchmarks.bare --node``,
which answers every run at once with a ``start``, LINES lines and an ``end``), then
relays N parts to it one after another through webtrace's own relay, on uvloop as the
server runs, and prints its CPU per part as JSON. With no lines, that is what setting up
a part costs: connecting, asking, reading the answer's head and its two events, closing.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import uvloop

from webtrace.events import Event
from webtrace.nodes.registry import Node, Nodes
from webtrace.nodes.relay import relay
from webtrace.settings import NodeSpec

WARM_UP = 50
LONG = 50  # lines in a part, for the cost of a line: enough to stand out of the set-up's spread
QUERY = {"target": "127.0.0.1", "family": "auto", "protocol": "icmp"}


async def parts(n: int, lines: int) -> dict[str, float]:
    node_process = subprocess.Popen([sys.executable, "-m", "benchmarks.bare", "--node", str(lines)],
                                    stdout=subprocess.PIPE, text=True)
    try:
        assert node_process.stdout is not None
        port = int(node_process.stdout.readline())
        nodes = Nodes(Node("front", None), [NodeSpec("n1", f"http://127.0.0.1:{port}")], interval=3600,
                      max_parts=10)
        await nodes.start()
        node = nodes.others[0]
        ends: list[str] = []

        async def emit(events: list[Event]) -> None:
            ends.extend(data["status"] for kind, data in events if kind == "end")

        async def one() -> None:
            await relay(nodes, node, "/api/v1/ping", QUERY, "192.0.2.1", emit)

        for _ in range(WARM_UP):
            await one()
        ends.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            await one()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if ends != ["ok"] * n:
            raise SystemExit(f"parts did not all end ok: {sorted(set(ends))}")
        return {"n": n, "lines": lines, "cpu_per_part": cpu / n, "wall_per_part": wall / n}
    finally:
        node_process.kill()
        node_process.wait()


if __name__ == "__main__":
    print(json.dumps(uvloop.run(parts(int(sys.argv[1]), int(sys.argv[2])))))


async def node_parts(n: int) -> dict[str, float]:
    """``n`` parts with no lines (a part's set-up) and ``n`` with LONG lines, each run in a
    process of its own: the CPU per part, and per line relayed (the difference, a line's)."""
    measured = {}
    for lines in (0, LONG):
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "benchmarks.parts", str(n), str(lines),
                                                       stdout=asyncio.subprocess.PIPE)
        out, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"benchmarks.parts {n} {lines} failed ({process.returncode})")
        measured[lines] = json.loads(out)
    return {"n": n, "lines": LONG, "cpu_per_part_setup": measured[0]["cpu_per_part"],
            "cpu_per_part_with_lines": measured[LONG]["cpu_per_part"],
            "cpu_per_relayed_line": (measured[LONG]["cpu_per_part"] - measured[0]["cpu_per_part"]) / LONG}
