"""The load generator: visitors (``benchmarks/visitors.py``) sent to a server and its
yardsticks, and the yardsticks' figures set beside webtrace's."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from .stamped import make_wrappers
from .stats import at_same_moments, percentile, weighted_percentile
from .harness import HERE, PING_COUNT, PING_INTERVAL, Server
from .visitors import Dialer, Streams, stream


def session(server: Server) -> aiohttp.ClientSession:
    return unix_session(server.sock)


def visitors(server: Server) -> Dialer:
    """Where the visitors of ``server`` connect (any other ``http://HOST:PORT`` over TCP)."""
    return Dialer(server.sock)


def unix_session(sock: Path) -> aiohttp.ClientSession:
    connector = aiohttp.UnixConnector(path=str(sock), limit=0)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120))


def floor(n: int, spread: float, count: int = PING_COUNT) -> dict[str, Any]:
    wrappers = make_wrappers(Path(tempfile.mkdtemp(prefix="webtrace-floor-")))
    argv = [str(wrappers / "ping"), "-n", "-O", "-c", str(count), "-i", str(PING_INTERVAL), "-4", "127.0.0.1"]
    result = subprocess.run([sys.executable, "-m", "benchmarks.floor", str(n), str(spread), *argv],
                            capture_output=True, text=True, check=True, cwd=HERE.parent)
    shutil.rmtree(wrappers, ignore_errors=True)
    return json.loads(result.stdout)


async def bare_headers(work: Path, n: int) -> list[float]:
    """Times to response headers for N visitors at once, from a bare aiohttp server that
    answers at once (benchmarks/bare.py) and starts nothing: the same client's floor."""
    sock = work / "bare.sock"
    bare = subprocess.Popen([sys.executable, "-m", "benchmarks.bare", str(sock)],
                            stdout=subprocess.PIPE, text=True, cwd=HERE.parent)
    into = Streams()
    try:
        assert bare.stdout is not None
        bare.stdout.readline()  # listening
        begin = time.time() + 0.2
        await asyncio.gather(*(stream(Dialer(sock), "http://bare/", begin, into, False) for _ in range(n)))
    finally:
        bare.kill()
        bare.wait()
    return into.ttfb


_ID_LINE = re.compile(rb"^id: (\d+)\r?$", re.MULTILINE)


_DATA_LINE = re.compile(rb"^data: (.*)\r?$", re.MULTILINE)


async def event_ids(sock: Path, path: str, first_data: list[bytes] | None = None) -> AsyncIterator[tuple[str, float]]:
    """Each SSE event's id on ``path`` and when the read holding it returned. Raw HTTP/1.1
    on the socket, a read at a time: a thousand streams read in this one process must
    cost it as little as they can, or the load generator's own delay is what is measured."""
    reader, writer = await asyncio.open_unix_connection(str(sock))
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: webtrace\r\nConnection: close\r\n\r\n".encode())
        carry = b""
        while chunk := await reader.read(65536):
            now = time.monotonic()
            text = carry + chunk
            cut = text.rfind(b"\n") + 1
            carry = text[cut:]
            if first_data is not None and not first_data and (data := _DATA_LINE.search(text, 0, cut)):
                first_data.append(data.group(1))  # the caller wants the first event's data
            for found in _ID_LINE.finditer(text, 0, cut):
                yield found.group(1).decode(), now
    finally:
        writer.close()


class PairedStreams:
    """Visitors, each sent to a node when a visitor's part through the front starts there."""

    _NODE = re.compile(rb'"node":"([^"]+)"')

    def __init__(self, dialer: Dialer) -> None:
        self.dialer = dialer
        self._streams: list[asyncio.Task[None]] = []

    def watcher(self, urls: dict[str, str], into: Streams) -> Callable[[bytes], None]:
        """What one visitor through the front shows its lines to: for the part starting
        on node NAME, a visitor goes to ``urls[NAME]`` and its lines count ``into``."""
        after_start = False

        def seen(raw: bytes) -> None:
            nonlocal after_start
            if raw.startswith(b"event: "):
                after_start = raw.startswith(b"event: start")
            elif after_start and raw.startswith(b"data: ") and (found := self._NODE.search(raw)):
                after_start = False
                url = urls[found.group(1).decode()]
                self._streams.append(asyncio.ensure_future(stream(self.dialer, url, time.time(), into, True)))
        return seen

    async def finished(self) -> None:
        await asyncio.gather(*self._streams)


def p99_over(latencies: list[float], yardstick: list[float]) -> float | None:
    """How much later the 99th percentile of ``latencies`` is than the yardstick's."""
    mine, theirs = percentile(latencies, 99), percentile(yardstick, 99)
    return None if mine is None or theirs is None else mine - theirs


# Lines printed within this much of each other count as printed at the same moment of a round.
SAME_MOMENT_S = 0.1


def p99_over_at_same_moments(streams: Streams, yardstick: Streams) -> float | None:
    """As ``p99_over``, with ``streams``' lines weighted so that when they were printed
    matches when the yardstick's were. The yardstick's visitors start as their paired
    part starts, but their lines still come a little later in the round, when the
    crowd has thinned: unweighted, the comparison would favour the yardstick."""
    weighted, theirs = at_same_moments(streams.latency, streams.printed, yardstick.latency, yardstick.printed,
                                       SAME_MOMENT_S)
    mine, base = weighted_percentile(weighted, 99), percentile(theirs, 99)
    return None if mine is None or base is None else mine - base


async def median_round(
    rounds: int, once: Callable[[], Awaitable[dict[str, Any]]], key: Callable[[dict[str, Any]], float]
) -> dict[str, Any]:
    """Run a scenario ``rounds`` times (server and floor alike, in turn) and report the
    round whose ``key`` is the median: a two-core machine shared with the load
    generator varies by about a millisecond at p99 from one run to the next.

    The CPU a line costs against the floor's is judged on its own median: the round
    chosen for its latency is any one of them for its CPU, and the machine's speed
    moves between rounds by more than most changes do, while a server and the floor
    measured beside it move together (``cpu_ratio_rounds``, ``cpu_ratio_median``)."""
    results = [await once() for _ in range(rounds)]
    chosen = dict(sorted(results, key=key)[len(results) // 2])
    chosen["rounds"] = [key(r) for r in results]
    ratios = [r["cpu_per_line"] / r["floor_cpu_per_line"] for r in results
              if r.get("cpu_per_line") and r.get("floor_cpu_per_line")]
    if ratios:
        chosen["cpu_ratio_rounds"] = ratios
        chosen["cpu_ratio_median"] = statistics.median(ratios)
    return chosen


def cpu_per_line(result: dict[str, Any]) -> float:
    return float(result["cpu_per_line"])


def latency_over_floor(result: dict[str, Any]) -> float:
    return float(result["p99_latency"] - result["floor_p99_latency"])
