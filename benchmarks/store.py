"""What the SQLite store costs a run: its thread's CPU and the bytes it writes.

A crowd of runs, each a ping of the usual five probes, is written as the writer
writes it (one flush for all the runs every tenth of a second, each run's new
events in it), into a file already holding the results of earlier runs, as a
server's file does after a while. The store runs in this process on its own
thread, as in the server; nothing else runs, so the figures are the store's.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import psutil

from webtrace.results.sqlite import SqliteStore
from webtrace.results.store import Batch

from .harness import disk_writes

META = {"tool": "ping", "target": "127.0.0.1", "address": "127.0.0.1", "family": "4", "protocol": "icmp",
        "port": None, "count": 5, "command": "ping -n -c 5 127.0.0.1", "node": "bench", "result": None}
LINE = {"text": "64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.035 ms"}
REPLY = {"seq": 1, "from": "127.0.0.1", "ttl": 64, "rtt_ms": 0.035}
EARLIER_PER_FLUSH = 1000


async def _thread_cpu(store: SqliteStore) -> float:
    return await asyncio.get_running_loop().run_in_executor(store._thread, time.thread_time)


def _run_flush(result_id: str, flush: int, flushes: int, now: float) -> Batch:
    batch = Batch(result_id, events=[(2 * flush + 1, "line", LINE), (2 * flush + 2, "reply", REPLY)])
    if flush == 0:
        batch.meta, batch.started_at = META, now
    if flush == flushes - 1:
        batch.status, batch.ended_at = "ok", now
    return batch


async def store_flushes(work: Path, runs: int, flushes: int, earlier: int) -> dict[str, Any]:
    """``runs`` runs at once, over ``flushes`` flushes, into a file holding ``earlier`` results."""
    home = work / "store-flush"
    shutil.rmtree(home, ignore_errors=True)
    store = SqliteStore(home / "results.sqlite3", 7 * 86400)
    now, here = time.time(), psutil.Process()
    try:
        for first in range(0, earlier, EARLIER_PER_FLUSH):
            await store.save([Batch(secrets.token_urlsafe(16), meta=META, started_at=now, status="ok", ended_at=now,
                                    events=[(n, "line", LINE) for n in range(1, 12)])
                              for _ in range(min(EARLIER_PER_FLUSH, earlier - first))])
        ids = [secrets.token_urlsafe(16) for _ in range(runs)]
        cpu0, bytes0, wall0 = await _thread_cpu(store), disk_writes(here), time.perf_counter()
        for flush in range(flushes):
            await store.save([_run_flush(result_id, flush, flushes, now) for result_id in ids])
        cpu, written, wall = await _thread_cpu(store) - cpu0, disk_writes(here) - bytes0, time.perf_counter() - wall0
        stored = await store.load(ids[-1])
    finally:
        await store.close()
        shutil.rmtree(home, ignore_errors=True)
    return {
        "runs": runs, "flushes": flushes, "earlier": earlier,
        "stored_events": len(stored.events) if stored is not None else 0,
        "cpu_per_run": cpu / runs, "written_bytes_per_run": written / runs, "flush_s": wall / flushes,
    }
