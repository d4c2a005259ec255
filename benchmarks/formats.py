"""Reading a result as large as a result may be (``WEBTRACE_RESULT_MAX_BYTES``) in
each format: the server's CPU for the whole request (the result read from its
SQLite file, rendered and sent), and, in this process, what rendering alone
allocates at its peak against the size of the result it renders.

Two results: an mtr whose 30 hops were sent again and again (each hop's last
row with a hundred probe times), and a ping of as many replies as fit.
"""

from __future__ import annotations

import secrets
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from webtrace.formats.comparison import compare
from webtrace.formats.exports import ATLAS_PING, ATLAS_TRACEROUTE, CSV_HOPS, CSV_REPLIES, MTR_JSON, Export
from webtrace.results.records import Result, StoredEvent
from webtrace.results.sqlite import SqliteStore
from webtrace.results.store import Batch
from webtrace.tools import MTR, PING
from webtrace.web.results import json_chunks, text_chunks

from .harness import webtrace
from .load import session

DEFAULT_MAX_BYTES = 2 * 2**20  # WEBTRACE_RESULT_MAX_BYTES's default
READS = 3  # per format: the figure is the median


def mtr_result(size: int) -> Result:
    """An mtr result of about ``size`` bytes of event data."""
    start = {"tool": "mtr", "target": "target.example", "address": "192.0.2.30", "family": "4", "protocol": "icmp",
             "port": None, "count": 100, "command": "mtr --raw 192.0.2.30", "result": None}
    events: list[dict[str, Any]] = []
    weight = 0
    cycle = 0
    while weight < size:
        cycle += 1
        for hop in range(1, 31):
            row = {"hop": hop, "hosts": [{"address": f"192.0.2.{hop}", "name": f"r{hop}.example.net",
                                          "asn": 64500 + hop, "as_name": "EXAMPLE-AS", "country": "NL"}],
                   "sent": cycle, "received": cycle, "loss_pct": 0.0, "last_ms": 1.234 + hop,
                   "avg_ms": 1.5 + hop, "best_ms": 1.0 + hop, "worst_ms": 3.0 + hop, "stdev_ms": 0.25}
            if weight > size - 30 * 1600:  # the last rows, as mtr's end sends them
                row["rtts_ms"] = [round(1.0 + hop + i / 100, 3) for i in range(100)]
            events.append(row)
            weight += len(orjson.dumps(row)) + 20
    return _result("mtr", start, [("hop", row) for row in events])


def ping_result(size: int) -> Result:
    """A ping result of about ``size`` bytes of event data."""
    start = {"tool": "ping", "target": "target.example", "address": "192.0.2.30", "family": "4", "protocol": "icmp",
             "port": None, "count": 100, "command": "ping -n 192.0.2.30", "result": None}
    events: list[tuple[str, dict[str, Any]]] = []
    weight = 0
    seq = 0
    while weight < size:
        seq += 1
        line = {"text": f"64 bytes from 192.0.2.30: icmp_seq={seq} ttl=57 time=12.{seq % 1000:03d} ms"}
        reply = {"seq": seq, "rtt_ms": 12 + (seq % 1000) / 1000, "ttl": 57, "host": "192.0.2.30", "lost": seq % 50 == 0}
        events += [("line", line), ("reply", reply)]
        weight += len(orjson.dumps(line)) + len(orjson.dumps(reply)) + 40
    summary = {"transmitted": seq, "received": seq - seq // 50, "loss_pct": 2.0, "min_ms": 12.0, "avg_ms": 12.5,
               "max_ms": 12.999, "mdev_ms": 0.3}
    return _result("ping", start, [*events, ("summary", summary)])


def _result(tool: str, start: dict[str, Any], body: list[tuple[str, dict[str, Any]]]) -> Result:
    end = {"status": "ok", "exit_code": 0, "duration_s": 100.0, "message": f"{tool} finished"}
    kinds = [("start", start), *body, ("end", end)]
    events: list[StoredEvent] = [(n, kind, data) for n, (kind, data) in enumerate(kinds, start=1)]
    meta = {k: start[k] for k in ("tool", "target", "address", "family", "protocol", "port", "count", "command")}
    return Result(secrets.token_urlsafe(16), {**meta, "node": "bench"}, time.time() - 100, time.time(), "ok",
                  events=events)


def weight(result: Result) -> int:
    return sum(len(orjson.dumps(data)) for _, _, data in result.events)


def _consume(chunks: Iterator[bytes]) -> int:
    return sum(len(chunk) for chunk in chunks)


def rendering(result: Result, render: Callable[[Result], Iterator[bytes]]) -> dict[str, Any]:
    """CPU seconds to render (untraced), then the peak it allocates (traced)."""
    cpu0 = time.process_time()
    written = _consume(render(result))
    cpu = time.process_time() - cpu0
    tracemalloc.start()
    try:
        _consume(render(result))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"render_cpu_ms": round(cpu * 1000, 1), "peak_bytes": peak, "written_bytes": written}


async def result_formats(work: Path, size: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    mtr, ping = mtr_result(size), ping_result(size)
    formats: dict[str, tuple[Result, Export | None]] = {
        "mtr json": (mtr, None), "mtr text": (mtr, None), "mtr atlas": (mtr, ATLAS_TRACEROUTE),
        "mtr mtr-json": (mtr, MTR_JSON), "mtr csv": (mtr, CSV_HOPS),
        "ping json": (ping, None), "ping text": (ping, None), "ping atlas": (ping, ATLAS_PING),
        "ping csv": (ping, CSV_REPLIES),
    }
    figures: dict[str, Any] = {"result_bytes": {"mtr": weight(mtr), "ping": weight(ping)}}
    for name, (result, export) in formats.items():
        if export is not None:
            figures[name] = rendering(result, export.render)
        elif name.endswith(" json"):
            figures[name] = rendering(result, json_chunks)
        else:
            spec = MTR if result is mtr else PING
            figures[name] = rendering(result, lambda r: text_chunks(spec, r))
    store = SqliteStore(work / "store" / "results.sqlite3", 3600)
    await store.save([Batch(r.id, meta=r.meta, started_at=r.started_at, events=r.events, ended_at=r.ended_at,
                            status=r.status) for r in (mtr, ping)])
    await store.close()
    async with webtrace(work, results=f"sqlite:///{work}/store/results.sqlite3") as server:
        async with session(server) as http:
            for name, (result, _) in formats.items():
                fmt = name.split()[1]
                costs = []
                for _ in range(READS):
                    cpu0 = server.cpu()
                    async with http.get(f"{server.base}/api/v1/results/{result.id}", params={"format": fmt}) as resp:
                        assert resp.status == 200, await resp.text()
                        body = await resp.read()
                    costs.append(server.cpu() - cpu0)
                figures.setdefault(name, {}).update(
                    server_cpu_ms=round(sorted(costs)[len(costs) // 2] * 1000, 1), response_bytes=len(body))
    return figures


async def comparisons(work: Path, reads: int = 5) -> dict[str, Any]:
    """Two 30-hop mtr results laid against each other: a run of about ten cycles (what
    the default count makes), and two as large as a result may be; in this process
    (the comparison alone) and through a server (the request, both read from SQLite)."""
    pairs = {"mtr 10 cycles": (mtr_result(80_000), mtr_result(80_000)),
             "mtr 2MiB": (mtr_result(DEFAULT_MAX_BYTES), mtr_result(DEFAULT_MAX_BYTES))}
    figures: dict[str, Any] = {}
    for name, (a, b) in pairs.items():
        costs = []
        for _ in range(20):
            cpu0 = time.process_time()
            compare(a, b, hops=True)
            costs.append(time.process_time() - cpu0)
        figures[name] = {"compare_cpu_ms": round(sorted(costs)[len(costs) // 2] * 1000, 2),
                         "hops": len(compare(a, b, hops=True)["places"][0]["hops"])}
    store = SqliteStore(work / "store" / "results.sqlite3", 3600)
    await store.save([Batch(r.id, meta=r.meta, started_at=r.started_at, events=r.events, ended_at=r.ended_at,
                            status=r.status) for pair in pairs.values() for r in pair])
    await store.close()
    async with webtrace(work, results=f"sqlite:///{work}/store/results.sqlite3") as server:
        async with session(server) as http:
            for name, (a, b) in pairs.items():
                costs = []
                for _ in range(reads):
                    cpu0 = server.cpu()
                    async with http.get(f"{server.base}/api/v1/compare/{a.id}/{b.id}") as resp:
                        assert resp.status == 200, await resp.text()
                        await resp.read()
                    costs.append(server.cpu() - cpu0)
                figures[name]["server_cpu_ms"] = round(sorted(costs)[len(costs) // 2] * 1000, 1)
    return figures
