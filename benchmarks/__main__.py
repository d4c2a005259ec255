"""``make bench`` / ``python -m benchmarks``: run the scenarios, print and save a table.

Every scenario starts its own webtrace (``python -m webtrace`` on a unix socket,
the stamped ping first on its PATH) and measures it with an asyncio/aiohttp load
generator in this process; the floor runs in a process of its own. Targets are
loopback only. ``--smoke`` runs every scenario at a tiny size (part of make test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from .stamped import latency_of, make_wrappers, path_with
from .stats import at_same_moments, percentile, weighted_percentile

HERE = Path(__file__).parent
RESULTS = HERE / "results"
TOOLS = {"ping", "traceroute", "mtr", "mtr-packet"}
PING_COUNT = 5
PING_INTERVAL = 0.2


# ------------------------------------------------------------------ the server


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    sock: Path
    base: str = "http://webtrace"

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.process.pid)

    def own(self) -> list[psutil.Process]:
        """The server's processes: itself and its spawn helper, not the tools."""
        found = [self.ps]
        for child in self.ps.children():
            try:
                if any("spawn_helper" in a for a in child.cmdline()):
                    found.append(child)
            except psutil.NoSuchProcess:
                pass  # a tool that just ended
        return found

    def cpu(self) -> float:
        """The server's own CPU seconds (spawn helper included), without the tools'."""
        return sum(cpu_seconds(p) for p in self.own())

    def pss(self) -> int:
        return sum(int(p.memory_full_info().pss) for p in self.own())

    def tools(self) -> list[tuple[str, psutil.Process]]:
        """The running tools, each with its name (read now: a tool that has exited has none)."""
        found = []
        for child in self.ps.children(recursive=True):
            try:
                name = child.name()
                if name in TOOLS and child.status() != psutil.STATUS_ZOMBIE:
                    found.append((name, child))
            except psutil.NoSuchProcess:
                pass
        return found


def cpu_seconds(proc: psutil.Process) -> float:
    """CPU time to the nanosecond where Linux gives it per thread (schedstat).

    psutil reads /proc/<pid>/stat, which counts in 10 ms ticks: a smoke run's
    whole server cost is a few milliseconds and would read as 0 or 10 ms. A
    thread that ended drops out of schedstat, which is fine here: the server's
    only other thread is its executor worker, which lives as long as it does.
    """
    try:
        return sum(int((task / "schedstat").read_text().split()[0])
                   for task in Path(f"/proc/{proc.pid}/task").iterdir()) / 1e9
    except (OSError, ValueError, IndexError):
        t = proc.cpu_times()
        return t.user + t.system


def webtrace(work: Path, **settings: str) -> contextlib.AbstractAsyncContextManager[Server]:
    """A webtrace on a unix socket."""
    return _serve(work, False, settings)


def webtrace_tcp(work: Path, **settings: str) -> contextlib.AbstractAsyncContextManager[Server]:
    """A webtrace on 127.0.0.1, with a port of its own: the nodes a front runs from are asked over TCP."""
    return _serve(work, True, settings)


@asynccontextmanager
async def _serve(work: Path, tcp: bool, settings: dict[str, str]) -> AsyncIterator[Server]:
    sock = work / f"webtrace-{time.monotonic_ns()}.sock"
    env = {
        **os.environ,
        "PATH": path_with(make_wrappers(work / "bin")),
        "WEBTRACE_ALLOW_NETWORKS": "127.0.0.0/8",
        "WEBTRACE_PINGCOUNT": str(PING_COUNT),
        "WEBTRACE_PINGINTERVAL": str(PING_INTERVAL),
        "WEBTRACE_MAX_JOBS": "2500",
        "WEBTRACE_MAX_JOBS_PER_CLIENT": "2500",
        "WEBTRACE_RATELIMIT": "1000000/minute",
        "WEBTRACE_RESULTS_RATELIMIT": "1000000/minute",
        "WEBTRACE_RESULTS": "off",  # a scenario that measures results turns them on
        "XDG_STATE_HOME": str(work / "state"),
        **{f"WEBTRACE_{k.upper()}": v for k, v in settings.items()},
    }
    log_path = work / (f"server-{sock.stem}.log" if tcp else "server.log")
    log = open(log_path, "ab")
    listen = ["--host", "127.0.0.1", "--port", "0"] if tcp else ["--unix-socket", str(sock)]
    process = subprocess.Popen([sys.executable, "-m", "webtrace", *listen],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        base = "http://webtrace"
        while True:
            if tcp and (found := re.search(r"Running on (http://127\.0\.0\.1:\d+)", log_path.read_text())):
                base = found.group(1)
                break
            if not tcp and sock.exists():
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"webtrace did not start; see {log_path}")
            await asyncio.sleep(0.02)
        yield Server(process, sock, base)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@asynccontextmanager
async def nginx_relay(work: Path, upstreams: dict[str, str]) -> AsyncIterator[str]:
    """nginx on 127.0.0.1, passing ``/NAME/...`` on to ``upstreams[NAME]/...`` unbuffered,
    as the README's server block does for a webtrace: a process in between written in C,
    one worker, as the front is one process. Its base URL."""
    binary = shutil.which("nginx")
    if binary is None:
        raise RuntimeError("nginx is not installed (make bench installs nginx-light)")
    from tests.helpers import free_port  # a test and bench helper, as tests.ipdbs is

    home = work / f"nginx-{time.monotonic_ns()}"
    home.mkdir()
    port = free_port()
    locations = "".join(f"""
        location /{name}/ {{
            proxy_pass {base}/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}""" for name, base in upstreams.items())
    temps = "".join(f"    {kind}_temp_path {home / kind};\n"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (home / "nginx.conf").write_text(f"""{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
error_log {home / "error.log"} warn;
pid {home / "nginx.pid"};
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temps}    server {{
        listen 127.0.0.1:{port} backlog=4096;{locations}
    }}
}}
""")
    process = subprocess.Popen([binary, "-p", str(home), "-c", str(home / "nginx.conf")], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start: {(home / 'error.log').read_text()}") from None
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def session(server: Server) -> aiohttp.ClientSession:
    return unix_session(server.sock)


def unix_session(sock: Path) -> aiohttp.ClientSession:
    connector = aiohttp.UnixConnector(path=str(sock), limit=0)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120))


# ------------------------------------------------------------------ the clients


@dataclass
class Streams:
    latency: list[float] = field(default_factory=list)  # tool printed -> client read
    printed: list[float] = field(default_factory=list)  # when the tool printed each line (wall clock)
    ttfb: list[float] = field(default_factory=list)  # request sent -> headers read
    first_line: list[float] = field(default_factory=list)  # request sent -> tool printed its first line
    completed: int = 0
    failures: list[str] = field(default_factory=list)

    def lines(self) -> int:
        return len(self.latency)


_STATUS = re.compile(rb'"status":"([a-z_]+)"')


async def stream(http: aiohttp.ClientSession, url: str, arrive: float, into: Streams, sse: bool,
                 seen: Callable[[bytes], None] | None = None, parts: int = 1) -> None:
    """One visitor arriving at wall-clock time ``arrive``; times count from then.
    ``seen`` is shown every line read, as it is read. An SSE stream is complete once
    it has sent ``parts`` ends with the status ok (one per node, for a run from several).

    The stream is read as it comes, a read at a time, and the lines of one read are
    timed together: this process shares the cores with the servers it measures, and a
    line at a time cost it a fifth more CPU."""
    await asyncio.sleep(max(0.0, arrive - time.time()))
    asked = arrive
    try:
        async with http.get(url) as resp:
            into.ttfb.append(time.time() - asked)
            if resp.status != 200:
                into.failures.append(f"HTTP {resp.status}")
                return
            first, at_end, ends, bad, pending = True, False, 0 if sse else parts, 0, b""
            async for chunk in resp.content.iter_any():
                now = time.time()
                whole, newline, pending = (pending + chunk).rpartition(b"\n")
                if not newline:
                    continue
                for raw in whole.split(b"\n"):
                    if seen is not None:
                        seen(raw)
                    if sse and raw.startswith(b"event: "):
                        at_end = raw.startswith(b"event: end")
                    elif at_end and raw.startswith(b"data: "):
                        at_end = False
                        status = _STATUS.search(raw)
                        if status is not None and status.group(1) == b"ok":
                            ends += 1
                        else:
                            bad += 1
                            into.failures.append(f"ended {status.group(1).decode() if status else 'without a status'}")
                    latency = latency_of(raw, now)
                    if latency is None:
                        continue
                    into.latency.append(latency)
                    into.printed.append(now - latency)
                    if first:
                        into.first_line.append(now - latency - asked)
                        first = False
            if ends == parts and not first:
                into.completed += 1
            elif ends + bad < parts:
                into.failures.append("stream ended early")
    except (TimeoutError, aiohttp.ClientError) as exc:
        into.failures.append(type(exc).__name__)


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
    ttfb: list[float] = []
    try:
        assert bare.stdout is not None
        bare.stdout.readline()  # listening
        async with unix_session(sock) as http:
            begin = time.time() + 0.2

            async def one() -> None:
                await asyncio.sleep(max(0.0, begin - time.time()))
                async with http.get("http://bare/") as resp:
                    ttfb.append(time.time() - begin)
                    await resp.read()

            await asyncio.gather(*(one() for _ in range(n)))
    finally:
        bare.kill()
        bare.wait()
    return ttfb


# ------------------------------------------------------------------ scenarios


def exists(proc: psutil.Process) -> bool:
    """Running, or dead but not yet reaped (a zombie): either way, not gone."""
    try:
        proc.status()
        return True
    except psutil.NoSuchProcess:
        return False


def directory_settings(work: Path, on: bool) -> dict[str, str]:
    """Hop names and both databases on (small test databases for 127.0.0.0/8), or all off."""
    if not on:
        return {"names": "off"}
    from tests.ipdbs import write_asn_db, write_geo_db  # mmdb-writer: a test and bench extra

    return {"names": "on", "asn_db": str(write_asn_db(work / "asn.mmdb")),
            "geo_db": str(write_geo_db(work / "geo.mmdb"))}


def store_figures(work: Path, metrics: str, io_before: int, io_after: int) -> dict[str, float]:
    """What the results store wrote: batches (one per result per flush, many in one
    transaction), the server's bytes written to the disk (/proc/PID/io; 0 on tmpfs), and
    the file's size once its write-ahead log is checkpointed into it."""
    found = re.search(r"^webtrace_results_written_total ([\d.e+]+)$", metrics, re.MULTILINE)
    path = work / "store" / "results.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"store_batches": float(found.group(1)) if found else 0.0,
            "store_disk_bytes": float(io_after - io_before), "store_file_bytes": float(path.stat().st_size)}


def disk_writes(proc: psutil.Process) -> int:
    return int(proc.io_counters().write_bytes)


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
            into = Streams()
            peak_pss = server.pss()
            cpu0 = server.cpu()
            io_before = disk_writes(server.ps)
            begin = time.time() + 0.2
            load = asyncio.gather(*(stream(http, url, begin + rng.uniform(0, spread), into, sse) for _ in range(n)))
            while not load.done():
                peak_pss = max(peak_pss, server.pss())
                await asyncio.wait([load], timeout=0.25)
            await load
            cpu = server.cpu() - cpu0
            metrics = ""
            if results:
                await asyncio.sleep(0.5)  # the last batch: written within a flush interval
                async with http.get(f"{server.base}/metrics") as resp:
                    metrics = await resp.text()
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
        "peak_pss": peak_pss,
        **({**store, **{f"{k}_per_run": v / n for k, v in store.items()}} if store else {}),
    }


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


async def followers(work: Path, n: int, cycles: int) -> dict[str, Any]:
    """One visitor runs an mtr; N followers watch its result live on the same instance.
    Each follower's lag on an event is how long after the run's own visitor read it
    the follower read it."""
    async with webtrace(work, mtrcount=str(cycles), mtrinterval="0.5", timeout="60",
                        results=f"sqlite:///{work}/store/results.sqlite3") as server:
        owner: dict[str, float] = {}
        got: list[list[str]] = []
        lag: list[float] = []
        failures: list[str] = []
        # The run's own visitor, read as the followers are; its start event gives the result's id.
        start: list[bytes] = []
        run = event_ids(server.sock, "/api/v1/mtr?target=127.0.0.1", start)
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
                connector = aiohttp.TCPConnector(limit=0)
                with PeakPss({"front": front, "node": n1}) as pss:
                    async with session(front) as http, aiohttp.ClientSession(
                            connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as plain:
                        begin = time.time() + 0.2
                        url = f"{front.base}/api/v1/ping?target=127.0.0.1&nodes=n1,n2"
                        pairs = PairedStreams(plain)
                        ping = "api/v1/ping?target=127.0.0.1"
                        yardsticks = [
                            ({"n1": f"{n1.base}/{ping}", "n2": f"{n2.base}/{ping}"}, round_asked),
                            ({name: f"{nginx}/{name}/{ping}" for name in ("n1", "n2")}, round_proxied),
                        ]
                        bring = {i * n // paired: yardsticks[i % 2] for i in range(paired)}
                        await asyncio.gather(
                            *(stream(http, url, begin + spread * i / n, round_through, True,
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


class PairedStreams:
    """Visitors, each sent to a node when a visitor's part through the front starts there."""

    _NODE = re.compile(rb'"node":"([^"]+)"')

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
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
                self._streams.append(asyncio.ensure_future(stream(self.http, url, time.time(), into, True)))
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


class PeakPss:
    """The peak PSS of some servers, sampled every 250 ms by a thread of its own: read on
    the load generator's loop, /proc's memory maps would hold up the streams it times."""

    def __init__(self, servers: dict[str, Server]) -> None:
        self.servers = servers
        self.peak = {name: server.pss() for name, server in servers.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            for name, server in self.servers.items():
                with contextlib.suppress(psutil.Error):
                    self.peak[name] = max(self.peak[name], server.pss())

    def __enter__(self) -> PeakPss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


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


async def median_round(
    rounds: int, once: Callable[[], Awaitable[dict[str, Any]]], key: Callable[[dict[str, Any]], float]
) -> dict[str, Any]:
    """Run a scenario ``rounds`` times (server and floor alike, in turn) and report the
    round whose ``key`` is the median: a two-core machine shared with the load
    generator varies by about a millisecond at p99 from one run to the next."""
    results = [await once() for _ in range(rounds)]
    chosen = dict(sorted(results, key=key)[len(results) // 2])
    chosen["rounds"] = [key(r) for r in results]
    return chosen


def cpu_per_line(result: dict[str, Any]) -> float:
    return float(result["cpu_per_line"])


def latency_over_floor(result: dict[str, Any]) -> float:
    return float(result["p99_latency"] - result["floor_p99_latency"])


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


# ------------------------------------------------------------------ running and reporting

FULL: dict[str, Callable[[Path], Any]] = {
    "ping-100": lambda w: ping_streams(w, 100, 0),
    "ping-500-over-10s": lambda w: median_round(3, lambda: ping_streams(w, 500, 10), latency_over_floor),
    "ping-500-over-10s-text": lambda w: median_round(
        3, lambda: ping_streams(w, 500, 10, sse=False), latency_over_floor),
    "ping-1000": lambda w: ping_streams(w, 1000, 0),
    # Long streams: the CPU of a line itself, with a request's cost spread over 50.
    "ping-100-long": lambda w: ping_streams(w, 100, 0, count=50),
    "ping-2000": lambda w: ping_streams(w, 2000, 0),
    # Hop names and both databases on: ping has no hops, so this is their cost when unused.
    "ping-500-over-10s-names": lambda w: median_round(
        3, lambda: ping_streams(w, 500, 10, directory=True), latency_over_floor),
    # An mtr crowd without and with names and databases, in the same run.
    "mtr-200": lambda w: median_round(3, lambda: mtr_crowd(w, 200, 10, directory=False), cpu_per_line),
    "mtr-200-names": lambda w: median_round(3, lambda: mtr_crowd(w, 200, 10, directory=True), cpu_per_line),
    # Results in the default store (SQLite) against results off, in the same run.
    "ping-500-over-10s-results": lambda w: median_round(
        3, lambda: ping_streams(w, 500, 10, results=True), latency_over_floor),
    "followers-1000": lambda w: median_round(3, lambda: followers(w, 1000, 10), lambda r: float(r["p99_lag"])),
    # Vantage points: 200 visitors at once, each from two nodes through a front; 25 visitors on
    # each node directly and 25 through nginx, each starting with one of the front's parts there.
    "nodes-200": lambda w: nodes_fanout(w, 200, 50, rounds=30),
    # The same crowd arriving over 5 s: what the front adds when the cores are not all taken.
    "nodes-200-over-5s": lambda w: nodes_fanout(w, 200, 50, spread=5, rounds=5),
    "refused-429": lambda w: median_round(3, lambda: refused_rate(w, 5, 50), lambda r: float(r["ratio"])),
    "disconnect-storm-500": lambda w: disconnect_storm(w, 500),
    "mtr-first-hop": lambda w: mtr_first_hop(w, 10),
}
SMOKE: dict[str, Callable[[Path], Any]] = {
    "ping-10": lambda w: median_round(2, lambda: ping_streams(w, 10, 0.5), latency_over_floor),
    "ping-10-text": lambda w: ping_streams(w, 10, 0, sse=False),  # at once: bare headers too
    "refused-429": lambda w: refused_rate(w, 1, 8),
    "disconnect-storm-5": lambda w: disconnect_storm(w, 5),
    "mtr-first-hop": lambda w: mtr_first_hop(w, 2),
    "mtr-5-names": lambda w: mtr_crowd(w, 5, 2, directory=True),
    "ping-10-results": lambda w: ping_streams(w, 10, 0.5, results=True),
    "followers-10": lambda w: followers(w, 10, 2),
    "nodes-5": lambda w: nodes_fanout(w, 5, 4),
}


def raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def run(names: list[str], scenarios: dict[str, Callable[[Path], Any]]) -> dict[str, Any]:
    raise_open_files()
    results: dict[str, Any] = {"machine": machine()}
    for name in names:
        with tempfile.TemporaryDirectory(prefix="webtrace-bench-") as work:
            started = time.monotonic()
            results[name] = await scenarios[name](Path(work))
            results[name]["took_s"] = round(time.monotonic() - started, 1)
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    return results


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {sys.version.split()[0]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="every scenario at a tiny size")
    parser.add_argument("--only", nargs="*", help="scenario names to run")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    scenarios = SMOKE if args.smoke else FULL
    names = args.only or list(scenarios)
    results = asyncio.run(run(names, scenarios))
    out = args.out or RESULTS / ("smoke.json" if args.smoke else "latest.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
