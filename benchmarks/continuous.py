"""Continuous runs (design §13): what a line of a continuous ping costs beside an
ordinary one, how late followers of one continuous mtr see its events, and
whether the server's memory stays flat over a run of the most one may last."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp

from .harness import PING_INTERVAL, PssSampler, Server, webtrace
from .load import visitors
from .visitors import Streams, stream
from .scenarios import followers
from .stats import percentile

# An ordinary ping as long as a run may last at the defaults (30 s), less a margin.
ORDINARY_S = 25.0
MAX_PINGCOUNT = 100  # the most WEBTRACE_PINGCOUNT may be


async def _crowd(server: Server, n: int, url: str, ok: bytes) -> tuple[Streams, float]:
    """N streams of ``url`` at once; the lines read and the server's CPU meanwhile.
    A stream is complete when it ends with status ``ok``."""
    into = Streams()
    cpu0 = server.cpu()
    await asyncio.gather(*(stream(visitors(server), url, time.time() + 0.2, into, True, ok=ok) for _ in range(n)))
    return into, server.cpu() - cpu0


async def continuous_pings(work: Path, n: int, seconds: float) -> dict[str, Any]:
    """N continuous pings until the most (``seconds``), and in the same session N ordinary
    pings of as many probes as fit in a run: the server's CPU per line of each."""
    probes = min(int(min(seconds, ORDINARY_S) / PING_INTERVAL), MAX_PINGCOUNT)
    async with webtrace(work, pingcount=str(probes), max_count=str(probes)) as server:
        ordinary, ordinary_cpu = await _crowd(server, n, f"{server.base}/api/v1/ping?target=127.0.0.1", b"ok")
    async with webtrace(work, continuous_max=f"{seconds:g}", max_continuous_per_client=str(n)) as server:
        url = f"{server.base}/api/v1/ping?target=127.0.0.1&continuous=true"
        continuous, continuous_cpu = await _crowd(server, n, url, b"timeout")
    per_line = continuous_cpu / max(continuous.lines(), 1)
    ordinary_per_line = ordinary_cpu / max(ordinary.lines(), 1)
    return {"n": n, "seconds": seconds, "ordinary_probes": probes,
            "completed": continuous.completed, "ordinary_completed": ordinary.completed,
            "failures": sorted(set(continuous.failures + ordinary.failures)),
            "lines": continuous.lines(), "ordinary_lines": ordinary.lines(),
            "cpu_per_line": per_line, "ordinary_cpu_per_line": ordinary_per_line,
            "ratio": per_line / ordinary_per_line if ordinary_per_line else None,
            "p99_latency": percentile(continuous.latency, 99),
            "ordinary_p99_latency": percentile(ordinary.latency, 99)}


async def continuous_followers(work: Path, n: int, seconds: float) -> dict[str, Any]:
    """One continuous mtr for ``seconds``, its result in SQLite, followed live by N visitors.
    ``complete`` counts none: a follower's replay holds only the latest row of each hop."""
    return {**await followers(work, n, 0, continuous_s=seconds), "seconds": seconds}


async def _last_event(server: Server, path: str) -> str:
    """Read a stream to its end, a read at a time; the name of its last event."""
    last, carry = "", b""
    # No total timeout: the stream lasts as long as the run's most.
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(server.sock), limit=0),
                                     timeout=aiohttp.ClientTimeout(total=None)) as http, \
            http.get(f"{server.base}{path}") as resp:
        async for chunk in resp.content.iter_any():
            text = carry + chunk
            found = text.rfind(b"\nevent: ")
            if found >= 0:
                last = text[found + 8:].split(b"\n", 1)[0].strip().decode()
            carry = text[-64:]
    return last


class PssSeries(PssSampler):
    """The server's PSS every ``every`` seconds: (seconds since the first, PSS)."""

    def __init__(self, server: Server, every: float) -> None:
        super().__init__({"server": server}, every)
        self.samples: list[tuple[float, int]] = []

    def take(self, name: str, at: float, pss: int) -> None:
        self.samples.append((at, pss))


async def continuous_memory(work: Path, runs: int, seconds: float) -> dict[str, Any]:
    """``runs`` continuous mtr runs for ``seconds`` each at once, results in SQLite: the
    server's PSS over the run, its median in the first and in the last fifth after the
    first 10 % (start-up), and the growth between them."""
    shutil.rmtree(work / "store", ignore_errors=True)
    async with webtrace(work, mtrinterval="1", continuous_max=f"{seconds:g}", max_continuous_per_client=str(runs),
                        results=f"sqlite:///{work}/store/results.sqlite3") as server:
        with PssSeries(server, max(seconds / 120, 0.25)) as series:
            cpu0 = server.cpu()
            path = "/api/v1/mtr?target=127.0.0.1&continuous=true"
            ends = await asyncio.gather(*(_last_event(server, path) for _ in range(runs)))
            cpu = server.cpu() - cpu0
    samples = [pss for at, pss in series.samples if at >= seconds * 0.1]
    fifth = max(len(samples) // 5, 1)
    first, last = statistics.median(samples[:fifth] or [0]), statistics.median(samples[-fifth:] or [0])
    return {"runs": runs, "seconds": seconds, "completed": ends.count("end"), "failures": [],
            "samples": len(samples), "pss_first_fifth": first, "pss_last_fifth": last,
            "growth": (last - first) / first if first else None, "peak_pss": max(samples, default=0),
            "cpu_s": cpu}
