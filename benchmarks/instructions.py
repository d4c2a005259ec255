"""``python -m benchmarks.instructions``: the instructions a run costs the server.

The CPU a line costs, against the floor's, moves with whatever else the machine
does: the same code measured 1.6x to 2.5x the floor in one session. Instructions
do not: the server runs under callgrind (valgrind), which counts every
instruction each of its threads executes, and the same code gives the same count
within a fraction of a percent whatever the machine is doing. That makes it the
yardstick for a change to the Python a run goes through, a few percent at a time.

What it does not see: the kernel (system calls, switching tasks) and the spawn
helper, which is a process of its own and runs outside valgrind. Those are real
CPU too, so a change is judged on this and on ``make bench`` alike.

The server is started twice for each setting, once serving nothing and once
serving ``--runs`` pings (5 probes each, ``--concurrency`` at a time, as
``make bench``'s visitors), and the difference, divided by the runs, is each
thread's count a run: the event loop's, and the other threads' (the results
store's). Prints one JSON object; ``--out FILE`` writes it too.

``a front relaying two nodes`` counts a front instead: each run is from two nodes
(``nodes=n1,n2``), which run outside valgrind, so the count is what relaying costs
the front, beside ``results off``, which is what a node's own run costs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .harness import webtrace_tcp, webtrace_under
from .load import visitors
from .visitors import Streams, stream

PATIENCE_S = 180.0  # to start and to stop: a server under callgrind runs about fifty times slower
FRONT = "a front relaying two nodes"
SETTINGS: dict[str, dict[str, str]] = {
    "results off": {},
    "results in SQLite": {"results": "sqlite:///{work}/store/results.sqlite3"},
    FRONT: {"node_name": "front", "nodes": "{nodes}", "nodes_check_interval": "3600"},
}


def thread_counts(out: Path) -> dict[int, int]:
    """Instructions per thread, from callgrind's files (``--separate-threads=yes``:
    one file a thread, numbered from 1, the main thread's first)."""
    counts = {}
    for part in out.parent.glob(f"{out.name}.*-*"):
        found = re.search(r"^summary:\s*(\d+)", part.read_text(errors="replace"), re.MULTILINE)
        if found:
            counts[int(part.name.rsplit("-", 1)[1])] = int(found.group(1))
    return counts


async def counted(work: Path, settings: dict[str, str], runs: int, concurrency: int) -> tuple[dict[int, int], int]:
    """One server under callgrind serving ``runs`` pings (from two nodes of its own, for
    a front): its threads' instructions, and the streams that completed."""
    home = work / f"server-{time.monotonic_ns()}"
    home.mkdir()
    out = home / "callgrind"
    callgrind = ["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}.%p"]
    into = Streams()
    front = "nodes" in settings
    async with contextlib.AsyncExitStack() as nodes:
        values: dict[str, Any] = {"work": home}
        if front:
            servers = [await nodes.enter_async_context(webtrace_tcp(home, node_name=name)) for name in ("n1", "n2")]
            values["nodes"] = f"n1={servers[0].base},n2={servers[1].base}"
        async with webtrace_under(home, callgrind, PATIENCE_S,
                                  **{k: v.format(**values) for k, v in settings.items()}) as server:
            if runs:
                url = f"{server.base}/api/v1/ping?target=127.0.0.1" + ("&nodes=n1,n2" if front else "")
                turns = asyncio.Semaphore(concurrency)

                async def one() -> None:
                    async with turns:
                        await stream(visitors(server), url, time.time(), into, True, parts=2 if front else 1)

                await asyncio.gather(*(one() for _ in range(runs)))
    if into.completed != runs:  # a count over failed runs would say they cost almost nothing
        raise RuntimeError(f"{runs - into.completed} of {runs} runs failed ({', '.join(sorted(set(into.failures)))})")
    counts = thread_counts(out)
    if 1 not in counts:
        raise RuntimeError(f"callgrind wrote no counts for the server; see {home / 'server.log'}")
    return counts, into.completed


def per_run(idle: dict[int, int], busy: dict[int, int], runs: int) -> dict[str, float]:
    """Each thread's instructions a run: the loop's (thread 1) and the rest together."""
    loop = (busy.get(1, 0) - idle.get(1, 0)) / runs
    others = (sum(v for k, v in busy.items() if k != 1) - sum(v for k, v in idle.items() if k != 1)) / runs
    return {"loop": loop, "other_threads": others, "total": loop + others}


async def measure(runs: int, concurrency: int, settings: dict[str, dict[str, str]] = SETTINGS) -> dict[str, Any]:
    """Each setting's instructions a run (``SETTINGS``: results off and in SQLite, and a
    front); with a front and results off, the front's a relayed line over a node's a line."""
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is not installed (make test-deps installs it)")
    with tempfile.TemporaryDirectory(prefix="webtrace-instructions-") as tmp:
        work = Path(tmp)
        report: dict[str, Any] = {"runs": runs, "concurrency": concurrency}
        for name, setting in settings.items():
            idle, _ = await counted(work, setting, 0, concurrency)
            busy, completed = await counted(work, setting, runs, concurrency)
            report[name] = {"completed": completed, **per_run(idle, busy, runs)}
        if FRONT in report and "results off" in report:
            # A run from two nodes relays each node's lines: twice a run's lines.
            report["front_line_over_node_line"] = report[FRONT]["total"] / (2 * report["results off"]["total"])
        return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", nargs="*", choices=list(SETTINGS), help="settings to count (all of them)")
    args = parser.parse_args()
    report = asyncio.run(measure(args.runs, args.concurrency,
                                 {name: SETTINGS[name] for name in args.only or SETTINGS}))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
