"""The scenarios: what each one asks of webtrace, and the figures it returns."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from .harness import (
    HERE, PING_COUNT, PeakPss, directory_settings, disk_writes, exists, nginx_relay, store_figures, webtrace,
    webtrace_tcp,
)
from .load import (
    PairedStreams, bare_headers, event_ids, floor, p99_over, p99_over_at_same_moments, session, visitors,
)
from .stats import percentile
from .visitors import Streams, stream


async def stored_metrics(http: aiohttp.ClientSession, base: str, within_s: float = 10.0) -> str:
    """The server's metrics once every run's result is stored (none recording), so
    that the store's figures count every write."""
    deadline = time.monotonic() + within_s
    while True:
        async with http.get(f"{base}/metrics") as resp:
            metrics = await resp.text()
        if re.search(r"^webtrace_results_recording 0(\.0)?$", metrics, re.MULTILINE) or time.monotonic() > deadline:
            return metrics
        await asyncio.sleep(0.1)


async def ping_streams(
    work: Path, n: int, spread: float, *, sse: bool = True, count: int = PING_COUNT, directory: bool = False,
    results: bool = False,
) -> dict[str, Any]:
    """N visitors each stream a ping of ``count`` probes, arriving uniformly over ``spread`` seconds;
    with ``results``, every run is stored in an SQLite file (the default store)."""
    rng = random.Random(1)
    stored = {"results": f"sqlite:///{work}/store/results.sqlite3"} if results else {}
    if results:
        shutil.rmtree(work / "store", ignore_errors=True)
    async with webtrace(work, pingcount=str(count), **directory_settings(work, directory), **stored) as server:
        async with session(server) as http:
            route = "/api/v1/ping" if sse else "/ping"
            url = f"{server.base}{route}?target=127.0.0.1"
            dialer = visitors(server)
            into = Streams()
            cpu0 = server.cpu()
            io_before = disk_writes(server.ps)
            with PeakPss({"server": server}) as pss:
                begin = time.time() + 0.2
                client0 = time.process_time()
                await asyncio.gather(*(stream(dialer, url, begin + rng.uniform(0, spread), into, sse)
                                       for _ in range(n)))
                client_cpu = time.process_time() - client0
            cpu = server.cpu() - cpu0
            peak_pss = pss.peak["server"]
            metrics = await stored_metrics(http, server.base) if results else ""
            io_after = disk_writes(server.ps)
        store = store_figures(work, metrics, io_before, io_after) if results else {}
    base = floor(n, spread, count)
    headers_floor = await bare_headers(work, n) if spread == 0 else []
    return {
        "n": n, "spread_s": spread, "sse": sse,
        "completed": into.completed, "failures": sorted(set(into.failures)), "failed": len(into.failures),
        "lines": into.lines(),
        "p50_latency": percentile(into.latency, 50), "p99_latency": percentile(into.latency, 99),
        "floor_p99_latency": percentile(base["latency"], 99),
        "p99_ttfb": percentile(into.ttfb, 99), "max_ttfb": max(into.ttfb, default=None),
        "floor_p99_ttfb": percentile(headers_floor, 99) if headers_floor else None,
        "p99_first_line": percentile(into.first_line, 99),
        "floor_p99_first_line": percentile(base["first_line"], 99),
        "cpu_per_line": cpu / max(into.lines(), 1),
        "floor_cpu_per_line": base["cpu_s"] / max(base["lines"], 1),
        "server_cpu_s": cpu, "client_cpu_s": client_cpu, "floor_cpu_s": base["cpu_s"],
        "peak_pss": peak_pss,
        **({**store, **{f"{k}_per_run": v / n for k, v in store.items()}} if store else {}),
    }


async def followers(work: Path, n: int, cycles: int, *, continuous_s: float | None = None) -> dict[str, Any]:
    """One visitor runs an mtr (of ``cycles``, or continuous for ``continuous_s``); N
    followers watch its result live on the same instance. Each follower's lag on an
    event is how long after the run's own visitor read it the follower read it."""
    shutil.rmtree(work / "store", ignore_errors=True)
    until = {"continuous_max": f"{continuous_s:g}"} if continuous_s is not None else {"mtrcount": str(cycles)}
    path = "/api/v1/mtr?target=127.0.0.1" + ("&continuous=true" if continuous_s is not None else "")
    async with webtrace(work, mtrinterval="0.5", timeout="60", results=f"sqlite:///{work}/store/results.sqlite3",
                        **until) as server:
        owner: dict[str, float] = {}
        got: list[list[str]] = []
        lag: list[float] = []
        failures: list[str] = []
        # The run's own visitor, read as the followers are; its start event gives the result's id.
        start: list[bytes] = []
        run = event_ids(server.sock, path, start)
        ident, at = await anext(run)
        owner[ident] = at
        result_id = json.loads(start[0])["result"]

        async def own() -> None:
            async for ident, at in run:
                owner[ident] = at

        async def follow() -> None:
            ids: list[str] = []
            seen: dict[str, float] = {}
            try:
                async for ident, at in event_ids(server.sock, f"/api/v1/results/{result_id}/events"):
                    ids.append(ident)
                    seen[ident] = at
            except OSError as exc:
                failures.append(type(exc).__name__)
            got.append(ids)
            # Live events only: those the run's visitor read after this follower had its replay.
            joined = min(seen.values(), default=0.0)
            for ident, at in seen.items():
                if ident in owner and owner[ident] > joined:
                    lag.append(at - owner[ident])

        owning = asyncio.create_task(own())
        cpu0 = server.cpu()
        await asyncio.gather(*(follow() for _ in range(n)))
        await owning
        cpu = server.cpu() - cpu0
    everything = [str(i) for i in range(1, len(owner) + 1)]
    return {"n": n, "events": len(everything), "complete": sum(ids == everything for ids in got),
            "failures": sorted(set(failures)), "p50_lag": percentile(lag, 50), "p99_lag": percentile(lag, 99),
            "max_lag": max(lag, default=None), "lagged": len(lag), "cpu_s": cpu}


async def nodes_fanout(work: Path, n: int, paired: int, spread: float = 0.0, rounds: int = 1) -> dict[str, Any]:
    """N visitors at once (or one after another over ``spread`` seconds), each running a ping
    from two nodes through a front: what the front adds to a line over a direct stream from
    the node in the same run, what nginx in the front's place adds, and the front's CPU and
    memory beside a node's own.

    The yardsticks are paired: ``paired`` of the visitors through the front each bring a
    visitor to each node at the moment its part there starts, so both print their lines at
    the same moments of the run; every other one of them asks the node directly, the rest
    through nginx. Visitors arriving with the crowd would start their tools before the
    front's parts reach the nodes and print their lines earlier, under another load: the
    populations' p99 would then differ by when their lines were printed rather than by the
    process in between.

    Every round starts its servers afresh; the percentiles are over the lines of all
    rounds together. A round's yardstick p99 stands on a few hundred lines, so one round's
    difference swings by more than the target; each is reported as well."""
    through, asked, proxied = Streams(), Streams(), Streams()
    front_cpu = node_cpu = 0.0
    peak = {"front": 0, "node": 0}
    added: list[float | None] = []
    nginx_added: list[float | None] = []
    for _ in range(rounds):
        round_through, round_asked, round_proxied = Streams(), Streams(), Streams()
        async with webtrace_tcp(work, node_name="n1") as n1, webtrace_tcp(work, node_name="n2") as n2:
            nodes = f"n1={n1.base},n2={n2.base}"
            async with webtrace(work, node_name="front", nodes=nodes, nodes_check_interval="3600") as front, \
                    nginx_relay(work, {"n1": n1.base, "n2": n2.base}) as nginx:
                front_cpu0, node_cpu0 = front.cpu(), n1.cpu() + n2.cpu()
                with PeakPss({"front": front, "node": n1}) as pss:
                    dialer = visitors(front)
                    begin = time.time() + 0.2
                    url = f"{front.base}/api/v1/ping?target=127.0.0.1&nodes=n1,n2"
                    pairs = PairedStreams(dialer)
                    ping = "api/v1/ping?target=127.0.0.1"
                    yardsticks = [
                        ({"n1": f"{n1.base}/{ping}", "n2": f"{n2.base}/{ping}"}, round_asked),
                        ({name: f"{nginx}/{name}/{ping}" for name in ("n1", "n2")}, round_proxied),
                    ]
                    bring = {i * n // paired: yardsticks[i % 2] for i in range(paired)}
                    await asyncio.gather(
                        *(stream(dialer, url, begin + spread * i / n, round_through, True,
                                 pairs.watcher(*bring[i]) if i in bring else None, parts=2)
                          for i in range(n)))
                    await pairs.finished()
                front_cpu += front.cpu() - front_cpu0
                node_cpu += (n1.cpu() + n2.cpu()) - node_cpu0
                peak = {name: max(peak[name], pss.peak[name]) for name in peak}
        added.append(p99_over(round_through.latency, round_asked.latency))
        nginx_added.append(p99_over(round_proxied.latency, round_asked.latency))
        for pooled, one in ((through, round_through), (asked, round_asked), (proxied, round_proxied)):
            pooled.latency += one.latency
            pooled.printed += one.printed
            pooled.first_line += one.first_line
            pooled.completed += one.completed
            pooled.failures += one.failures
    lines = max(through.lines(), 1)
    return {
        "n": n, "paired": paired, "spread_s": spread, "rounds": rounds,
        "completed": through.completed, "direct_completed": asked.completed, "nginx_completed": proxied.completed,
        "failures": sorted(set(through.failures + asked.failures + proxied.failures)),
        "lines": through.lines(), "direct_lines": asked.lines(), "nginx_lines": proxied.lines(),
        "p99_latency": percentile(through.latency, 99), "direct_p99_latency": percentile(asked.latency, 99),
        "nginx_p99_latency": percentile(proxied.latency, 99),
        "p50_latency": percentile(through.latency, 50), "direct_p50_latency": percentile(asked.latency, 50),
        "nginx_p50_latency": percentile(proxied.latency, 50),
        "added_p99": p99_over(through.latency, asked.latency),
        "added_p99_by_round": added,
        # The same, with the front's lines weighted to have been printed when the direct ones were.
        "added_p99_same_moments": p99_over_at_same_moments(through, asked),
        # The same through nginx: what any process in between adds to a line on this machine, under this load.
        "nginx_added_p99": p99_over(proxied.latency, asked.latency),
        "nginx_added_p99_by_round": nginx_added,
        "nginx_added_p99_same_moments": p99_over_at_same_moments(proxied, asked),
        # From the visitors' arrival to their first line's printing: how soon every node started.
        "p99_first_line": percentile(through.first_line, 99), "direct_p99_first_line": percentile(asked.first_line, 99),
        # The nodes sent every line: those they relayed to the front, to nginx and directly.
        "front_cpu_per_line": front_cpu / lines,
        "node_cpu_per_line": node_cpu / max(lines + asked.lines() + proxied.lines(), 1),
        "front_peak_pss": peak["front"], "node_peak_pss": peak["node"],
    }


async def mtr_crowd(work: Path, n: int, cycles: int, *, directory: bool) -> dict[str, Any]:
    """N visitors at once each stream an mtr of ``cycles`` cycles: the server's CPU per
    event it sends (lines, hop rows, progress), with hop names and databases on or off."""
    async with webtrace(work, mtrcount=str(cycles), mtrinterval="0.5", timeout="60",
                        **directory_settings(work, directory)) as server:
        async with session(server) as http:
            counts = {"events": 0, "lines": 0, "named": 0, "completed": 0}
            failures: list[str] = []
            begin = time.time() + 0.2

            async def one() -> None:
                await asyncio.sleep(max(0.0, begin - time.time()))
                try:
                    async with http.get(f"{server.base}/api/v1/mtr?target=127.0.0.1") as resp:
                        async for raw in resp.content:
                            if raw.startswith(b"event: "):
                                counts["events"] += 1
                                counts["lines"] += raw.startswith(b"event: line")
                                counts["completed"] += raw.startswith(b"event: end")
                            elif raw.startswith(b"data: ") and b'"name":"localhost"' in raw:
                                counts["named"] += 1
                except (TimeoutError, aiohttp.ClientError) as exc:
                    failures.append(type(exc).__name__)

            cpu0 = server.cpu()
            await asyncio.gather(*(one() for _ in range(n)))
            cpu = server.cpu() - cpu0
    return {"n": n, "cycles": cycles, "directory": directory, **counts, "failures": sorted(set(failures)),
            "cpu_s": cpu, "cpu_per_event": cpu / max(counts["events"], 1),
            "cpu_per_line": cpu / max(counts["lines"], 1)}


async def refused_rate(work: Path, seconds: float, connections: int) -> dict[str, Any]:
    """Requests per second on the 429 path, against a bare aiohttp handler answering 429."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (make bench installs it)")

    def measure(url: str) -> float:
        out = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", url],
                             capture_output=True, text=True, check=True).stdout
        found = re.search(r"Requests/sec:\s+([\d.]+)", out)
        assert found, out
        return float(found.group(1))

    bare = subprocess.Popen([sys.executable, "-m", "benchmarks.bare"], stdout=subprocess.PIPE, text=True,
                            cwd=HERE.parent)
    try:
        assert bare.stdout is not None
        bare_rate = measure(f"http://127.0.0.1:{bare.stdout.readline().strip()}/api/v1/ping?target=127.0.0.1")
    finally:
        bare.kill()
        bare.wait()
    # webtrace on TCP as well (wrk speaks TCP only), with its access log on as in production.
    log = open(work / "refused.log", "wb")
    env = {**os.environ, "WEBTRACE_RATELIMIT": "1/hour", "WEBTRACE_TRUSTED_PROXIES": "", "WEBTRACE_RESULTS": "off"}
    server = subprocess.Popen([sys.executable, "-m", "webtrace", "--port", "0"], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not (found := re.search(r"Running on http://127.0.0.1:(\d+)", (work / "refused.log").read_text())):
            if time.monotonic() > deadline:
                raise RuntimeError("webtrace did not start")
            await asyncio.sleep(0.02)
        url = f"http://127.0.0.1:{found.group(1)}/api/v1/ping?target=-"
        webtrace_rate = measure(url)
    finally:
        server.terminate()
        server.wait(10)
        log.close()
    return {"webtrace_rps": webtrace_rate, "bare_rps": bare_rate, "ratio": webtrace_rate / bare_rate}


async def disconnect_storm(work: Path, n: int) -> dict[str, Any]:
    """N visitors leave in the middle of an mtr; how long until no tool process is left?"""
    async with webtrace(work, mtrcount="100", mtrinterval="1", timeout="120") as server:
        async with session(server) as http:
            responses: list[aiohttp.ClientResponse] = []

            async def open_one() -> None:
                resp = await http.get(f"{server.base}/api/v1/mtr?target=127.0.0.1")
                async for raw in resp.content:
                    if raw.startswith(b"event: hop"):
                        break
                responses.append(resp)

            await asyncio.gather(*(open_one() for _ in range(n)))
            tools = server.tools()
            running = len([name for name, _ in tools if name == "mtr"])
            left = time.monotonic()
            for resp in responses:
                resp.close()
            # Watch the known pids (a full process-table scan would compete for the CPU)
            # until every one is gone and reaped.
            while any(exists(p) for _, p in tools) and time.monotonic() - left < 30:
                await asyncio.sleep(0.01)
            gone_after = time.monotonic() - left
            left_over = len([p for _, p in tools if exists(p)])
    return {"n": n, "mtr_running": running, "gone_after_s": gone_after, "left_over": left_over}


async def mtr_first_hop(work: Path, runs: int) -> dict[str, Any]:
    """Time from asking to the first hop row, through webtrace and with bare asyncio."""
    through: list[float] = []
    bare: list[float] = []
    async with webtrace(work, mtrcount="1") as server:
        async with session(server) as http:
            for _ in range(runs):
                asked = time.monotonic()
                async with http.get(f"{server.base}/api/v1/mtr?target=127.0.0.1") as resp:
                    async for raw in resp.content:
                        if raw.startswith(b"event: hop"):
                            through.append(time.monotonic() - asked)
                            break
    for _ in range(runs):
        asked = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            "mtr", "--raw", "-c", "1", "-4", "127.0.0.1", stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        async for line in proc.stdout:
            if line.startswith(b"h "):
                bare.append(time.monotonic() - asked)
                break
        proc.kill()
        await proc.wait()
    return {"runs": runs, "p50": percentile(through, 50), "floor_p50": percentile(bare, 50),
            "p99": percentile(through, 99), "floor_p99": percentile(bare, 99)}
