"""The in-memory budgets alone: the CPU of one run's hit (``hit`` and the window's
stats, as each run spends its budget) with visitors spaced out, while other clients
hold entries in the window, for limits' own memory storage and for webtrace's.

``python -m benchmarks.budgets STORAGE CLIENTS HITS`` (STORAGE: ``limits`` or
``webtrace``) fills the window with CLIENTS other clients, then hits 50 times a
second, HITS times, on uvloop as the server runs, and prints the process's CPU per
hit (its threads' included) beyond the same loop ticking without hits, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import uvloop
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from webtrace.web.memory_window import MemoryWindows

RATE_HZ = 50  # 500 visitors over 10 s
STORAGES = {"limits": MemoryStorage, "webtrace": MemoryWindows}


async def hits(storage: str, clients: int, n: int) -> dict[str, Any]:
    limiter = MovingWindowRateLimiter(STORAGES[storage]())
    item = parse("10/minute")
    for client in range(clients):
        await limiter.hit(item, f"192.0.2.{client}")
    await asyncio.sleep(0.5)

    async def ticks(hitting: bool) -> float:
        cpu = time.process_time()
        for _ in range(n):
            if hitting:
                await limiter.hit(item, "198.51.100.1")
                await limiter.get_window_stats(item, "198.51.100.1")
            await asyncio.sleep(1 / RATE_HZ)
        return time.process_time() - cpu

    idle = await ticks(False)
    busy = await ticks(True)
    return {"storage": storage, "clients": clients, "hits": n, "cpu_per_hit": max(busy - idle, 0.0) / n}


async def budget_hits(n: int, clients: tuple[int, ...] = (1, 100, 1000)) -> dict[str, Any]:
    """Each storage with each number of other clients, each in a process of its own."""
    measured: dict[str, Any] = {}
    for count in clients:
        for storage in STORAGES:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "benchmarks.budgets", storage, str(count), str(n),
                stdout=asyncio.subprocess.PIPE)
            out, _ = await process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"benchmarks.budgets {storage} {count} failed ({process.returncode})")
            measured[f"{storage}_{count}"] = json.loads(out)["cpu_per_hit"]
    return {"hits": n, **measured}


if __name__ == "__main__":
    print(json.dumps(uvloop.run(hits(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))))
