"""The page under a big live run: mtr from four nodes over a 30-hop path, every hop's
row sent again each cycle, drawn side by side in Debian's Chromium.

The nodes are one fake node in this process (no real path here has 30 hops),
listed four times to a real webtrace front; the front relays its streams as it
would any node's. The page's paths view marks each drawing with a performance
measure (``webtrace:paths``), which an observer collects; Chromium's own
``ScriptDuration`` gives all the script the run cost, event handling included.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from .harness import webtrace_tcp
from .stats import percentile

CHROMIUM = "/usr/bin/chromium"
NODES = ("n0", "n1", "n2", "n3")
HOPS = 30
OWN_HOPS = 10  # each node's path is its own for this many hops, then all share it
TARGET = "127.0.0.1"
OBSERVER = """
window.__draws = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (entry.name === "webtrace:paths") window.__draws.push(entry.duration);
}).observe({ entryTypes: ["measure"] });
"""


def frame(kind: str, data: object) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def hop_row(node: int, hop: int, cycle: int) -> dict[str, Any]:
    """A hop's row after ``cycle`` cycles, its figures moving a little every cycle."""
    address = TARGET if hop == HOPS else f"198.18.{node}.{hop}" if hop <= OWN_HOPS else f"198.19.0.{hop}"
    name = f"hop{hop}.n{node}.example.net" if hop <= OWN_HOPS else f"core{hop}.example.net"
    host = {"address": address, "name": name,
            "asn": 64500 + hop // 8, "as_name": f"Example {hop // 8}", "country": "NL"}
    avg = 1.0 + hop * 0.8 + node * 0.3 + (cycle % 5) * 0.05
    lost = (cycle * (hop % 3)) // 7
    return {"hop": hop, "hosts": [host], "sent": cycle, "received": cycle - lost,
            "loss_pct": round(100 * lost / cycle, 1), "last_ms": round(avg + 0.1, 2), "avg_ms": round(avg, 2),
            "best_ms": round(avg - 0.3, 2), "worst_ms": round(avg + 0.9, 2), "stdev_ms": 0.2}


def fake_node(cycles: int, interval: float) -> web.Application:
    started = iter(range(1_000_000))

    async def nodes(_: web.Request) -> web.Response:
        return web.json_response({"nodes": [{"name": "fake", "info": None, "local": True, "up": True,
                                             "tools": ["mtr"]}]})

    async def mtr(request: web.Request) -> web.StreamResponse:
        node = next(started) % len(NODES)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(frame("start", {
            "tool": "mtr", "target": TARGET, "address": TARGET, "family": "4", "protocol": "icmp", "port": None,
            "count": cycles, "command": f"mtr --raw -c {cycles} {TARGET}"}))
        for cycle in range(1, cycles + 1):
            await asyncio.sleep(interval)
            await response.write(b"".join(frame("hop", hop_row(node, hop, cycle)) for hop in range(1, HOPS + 1))
                                 + frame("progress", {"done": cycle, "total": cycles}))
        await response.write(frame("end", {"status": "ok", "exit_code": 0, "duration_s": cycles * interval,
                                           "message": "mtr exited with status 0"}))
        return response

    app = web.Application()
    app.router.add_get("/api/v1/nodes", nodes)
    app.router.add_get("/api/v1/mtr", mtr)
    return app


async def paths_page(work: Path, cycles: int = 30, interval: float = 1.0) -> dict[str, Any]:
    """``cycles`` of mtr, one each ``interval`` seconds; a screenshot of the end in ``work``."""
    from playwright.async_api import async_playwright

    runner = web.AppRunner(fake_node(cycles, interval))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    listed = ",".join(f"{name}=http://127.0.0.1:{port}" for name in NODES)
    try:
        async with webtrace_tcp(work, nodes=listed, node_name="front") as front, async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            try:
                page = await browser.new_page(viewport={"width": 1366, "height": 900})
                await page.add_init_script(OBSERVER)
                cdp = await page.context.new_cdp_session(page)
                await cdp.send("Performance.enable")
                before = await _metrics(cdp)
                await page.goto(f"{front.base}/?tool=mtr&target={TARGET}&nodes={','.join(NODES)}")
                await page.locator("#status", has_text="Done").wait_for(timeout=(cycles * interval + 30) * 1000)
                after = await _metrics(cdp)
                draws: list[float] = await page.evaluate("window.__draws")
                rows = await page.locator("#paths-table tbody tr").count()
                status = await page.locator("#status").text_content()
                await page.screenshot(path=str(work / "paths-page.png"), full_page=True)
            finally:
                await browser.close()
    finally:
        await runner.cleanup()
    script_ms = (after["ScriptDuration"] - before["ScriptDuration"]) * 1000
    return {"cycles": cycles, "nodes": len(NODES), "hops": HOPS, "rows": rows, "status": status,
            "draws": len(draws), "draw_p50_ms": _ms(percentile(draws, 50)),
            "draw_p99_ms": _ms(percentile(draws, 99)), "draw_max_ms": _ms(max(draws, default=None)),
            "script_per_cycle_ms": round(script_ms / cycles, 2),
            "task_per_cycle_ms": round((after["TaskDuration"] - before["TaskDuration"]) * 1000 / cycles, 2)}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def _metrics(cdp: Any) -> dict[str, float]:
    found = await cdp.send("Performance.getMetrics")
    return {m["name"]: m["value"] for m in found["metrics"]}
