"""The floor: spawn the tools and read their lines with bare asyncio, no HTTP.

Children are watched through pidfds, as asyncio does by default from Python
3.12 and webtrace does on 3.11 (``use_pidfd_child_watcher``, the same call):
3.11's default starts a thread per child, which made the floor about half as
expensive again as it needs to be.

Run as ``python -m benchmarks.floor N SPREAD_S ARGV...``; prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import subprocess
import sys
import time

from webtrace.process.groups import use_pidfd_child_watcher

from .stamped import latency_of


async def one(argv: list[str], arrive: float, out: dict[str, list[float]]) -> None:
    # Counted from the scheduled arrival, as for a visitor of the server.
    await asyncio.sleep(max(0.0, arrive - time.time()))
    asked = arrive
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    first = True
    async for line in proc.stdout:
        now = time.time()
        latency = latency_of(line, now)
        if latency is None:
            continue
        out["latency"].append(latency)
        if first:
            out["first_line"].append(now - latency - asked)  # printed, counted from the ask
            first = False
    await proc.wait()
    out["done"].append(1.0)


async def main(n: int, spread: float, argv: list[str]) -> dict[str, object]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out: dict[str, list[float]] = {"latency": [], "first_line": [], "done": []}
    rng = random.Random(1)
    cpu0 = time.process_time()
    begin = time.time() + 0.2
    await asyncio.gather(*(one(argv, begin + rng.uniform(0, spread), out) for _ in range(n)))
    cpu = time.process_time() - cpu0
    return {"latency": out["latency"], "first_line": out["first_line"], "completed": len(out["done"]),
            "cpu_s": cpu, "lines": len(out["latency"])}


async def with_pidfds(n: int, spread: float, argv: list[str]) -> dict[str, object]:
    use_pidfd_child_watcher()  # for the life of this process
    return await main(n, spread, argv)


if __name__ == "__main__":
    count, spread_s, *command = sys.argv[1:]
    print(json.dumps(asyncio.run(with_pidfds(int(count), float(spread_s), command))))
