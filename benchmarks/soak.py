"""``make soak`` / ``python -m benchmarks.soak``: hours of mixed load with nothing growing.

One real webtrace on a unix socket, and a bounded crowd of visitors on loopback
for ``--duration`` seconds: the three tools on both sinks and ``/check``;
visitors who leave before the spawn, right after the headers, after the first
line or mid-run; refusals of every kind (the rate limit and the caps, the
policy, malformed requests, unknown tools). Visitors are told apart by the
address their (trusted) proxy forwards, so each has a budget of its own.

Every few seconds it samples the server's RSS, open descriptors, threads,
child processes and zombies. It fails when, after the warm-up, any of them
grows by more than its stated margin; when a stream a visitor read to its end
has no ``end``; or when anything answers a 5xx other than a deliberate 503.
Targets are loopback only; every loop is bounded by the duration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from .harness import webtrace

# How much each series may grow from the warm-up to the end before the soak fails.
# RSS is compared over windows of samples taken under the same load; the others
# when the server is idle again, so they must come back to where they were.
# Threads: the loop's default executor (host names, limits' expiry) starts its
# threads as work comes, up to cores + 4, so a few may appear after the warm-up.
MARGINS = {"rss_mb": 15.0, "fds": 2, "threads": 4, "children": 0, "zombies": 0}
SAMPLE_EVERY_S = 2.0
WORKERS = 24


@dataclass
class Sample:
    t: float
    rss_mb: float
    fds: int
    threads: int
    children: int
    zombies: int


@dataclass
class Report:
    duration_s: float
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    samples: list[Sample] = field(default_factory=list)
    idle_before: Sample | None = None
    idle_after: Sample | None = None
    failures: list[str] = field(default_factory=list)

    def series(self) -> dict[str, dict[str, float]]:
        """Start (after warm-up), peak and end of each series."""
        out = {}
        for name in MARGINS:
            values = [getattr(s, name) for s in self.samples]
            if values:
                out[name] = {"start": values[0], "peak": max(values), "end": values[-1]}
        return out


def sample(pid: int) -> Sample:
    server = psutil.Process(pid)
    children = zombies = 0
    for child in server.children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                zombies += 1
            else:
                children += 1
        except psutil.NoSuchProcess:
            pass
    return Sample(time.monotonic(), server.memory_info().rss / 2**20, server.num_fds(), server.num_threads(),
                  children, zombies)


# The soak's server: small runs, real caps and budgets, quiet logs.
SETTINGS = {
    "allow_networks": "127.0.0.0/8,::1/128",
    "pingcount": "3",
    "mtrcount": "3",
    "mtrinterval": "0.2",
    "maxhops": "5",
    "timeout": "10",
    "ratelimit": "120/minute",
    "max_jobs": "20",
    "max_jobs_per_client": "2",
    "log_level": "WARNING",
    "results_ratelimit": "100000/minute",
}


Visit = Callable[[aiohttp.ClientSession, str, Report], Awaitable[None]]
BASE = "http://webtrace"
TOOLS = ("ping", "traceroute", "mtr")
TEXT = {"ping": "ping", "traceroute": "trace", "mtr": "mtr"}


def headers(client: str) -> dict[str, str]:
    return {"X-Forwarded-For": client}


def count(report: Report, what: str, status: int) -> None:
    report.requests[what] += 1
    report.statuses[status] += 1
    if status >= 500 and status != 503:
        report.failures.append(f"{what}: {status}")


# Results of runs seen lately, for visitors who read or follow them.
RECENT: list[str] = []


async def sse_run(session: aiohttp.ClientSession, client: str, report: Report) -> None:
    tool = random.choice(TOOLS)
    target = random.choice(["127.0.0.1", "::1", "localhost"])
    async with session.get(f"{BASE}/api/v1/{tool}", params={"target": target}, headers=headers(client)) as resp:
        count(report, f"sse {tool}", resp.status)
        if resp.status != 200:
            return
        last = b""
        async for line in resp.content:
            if line.startswith(b"event: "):
                last = line
            elif line.startswith(b'data: {"tool"') and (found := re.search(rb'"result":"([\w-]{22})"', line)):
                RECENT.append(found.group(1).decode())
                del RECENT[:-50]
        if last.strip() != b"event: end":
            report.failures.append(f"sse {tool} to {target} ended without end (last {last!r})")


async def result(session: aiohttp.ClientSession, client: str, report: Report) -> None:
    """A visitor who opens a result: its JSON, its text, or its events (live if it still runs)."""
    if not RECENT:
        return
    result_id = random.choice(RECENT)
    how = random.choice(["json", "text", "events"])
    path = f"{BASE}/api/v1/results/{result_id}" + ("/events" if how == "events" else "")
    params = {"format": "text"} if how == "text" else {}
    async with session.get(path, params=params, headers=headers(client)) as resp:
        count(report, f"result {how}", resp.status)
        body = await resp.read()
        if resp.status == 200 and how == "events" and b"event: end" not in body:
            report.failures.append(f"result {result_id} followed to no end")


async def text_run(session: aiohttp.ClientSession, client: str, report: Report) -> None:
    tool = random.choice(TOOLS)
    async with session.get(f"{BASE}/{TEXT[tool]}", params={"target": "127.0.0.1"}, headers=headers(client)) as resp:
        count(report, f"text {tool}", resp.status)
        await resp.read()


async def check(session: aiohttp.ClientSession, client: str, report: Report) -> None:
    tool = random.choice(TOOLS)
    async with session.get(f"{BASE}/api/v1/{tool}/check", params={"target": "127.0.0.1"},
                           headers=headers(client)) as resp:
        count(report, "check", resp.status)
        await resp.read()


async def leave(session: aiohttp.ClientSession, client: str, report: Report) -> None:
    """A visitor who leaves: before the spawn, after the headers, after a line, mid-run."""
    when = random.choice(["at_once", "headers", "first_line", "mid_run"])
    tool = random.choice(TOOLS)
    try:
        async with asyncio.timeout(0 if when == "at_once" else 10):
            async with session.get(f"{BASE}/api/v1/{tool}", params={"target": "127.0.0.1"},
                                   headers=headers(client)) as resp:
                count(report, f"leave {when}", resp.status)
                if when == "headers":
                    return
                async for line in resp.content:
                    if when == "first_line" and line.startswith(b"event: line"):
                        return
                    if when == "mid_run" and line.startswith(b"event: progress"):
                        return
    except TimeoutError:
        report.requests[f"leave {when}"] += 1


async def refused(session: aiohttp.ClientSession, client: str, report: Report) -> None:
    """Requests refused before anything runs: policy, malformed, unknown tool, a flood."""
    kind = random.choice(["policy", "malformed", "unknown", "flood"])
    if kind == "flood":
        flooder = "192.0.2.66"  # one client over its budget: 429s once the minute's runs are spent
        for _ in range(20):
            async with session.get(f"{BASE}/ping", params={"target": "127.0.0.1"}, headers=headers(flooder)) as resp:
                count(report, "flood", resp.status)
                await resp.read()
        return
    path, params = {
        "policy": ("/api/v1/ping", {"target": "10.0.0.1"}),
        "malformed": ("/api/v1/mtr", {"target": "-f"}),
        "unknown": ("/api/v1/nmap", {"target": "127.0.0.1"}),
    }[kind]
    async with session.get(f"{BASE}{path}", params=params, headers=headers(client)) as resp:
        count(report, kind, resp.status)
        await resp.read()


VISITS: list[tuple[Visit, int]] = [(sse_run, 4), (text_run, 2), (check, 2), (leave, 3), (refused, 2), (result, 2)]


async def visitor(session: aiohttp.ClientSession, deadline: float, report: Report, number: int) -> None:
    visits = [visit for visit, weight in VISITS for _ in range(weight)]
    while time.monotonic() < deadline:
        if number % 2:
            client = f"203.0.113.{random.randrange(1, 255)}"
        else:
            client = f"2001:db8:{number}:{random.randrange(1, 99)}::1"  # a /64 of its own
        try:
            await random.choice(visits)(session, client, report)
        except (aiohttp.ClientError, ConnectionError) as exc:
            report.failures.append(f"{type(exc).__name__}: {exc}")
        # Pacing, not synchronisation: a refused visitor would otherwise loop as a flood.
        await asyncio.sleep(random.uniform(0.0, 0.2))


def session(sock: Path) -> aiohttp.ClientSession:
    connector = aiohttp.UnixConnector(path=str(sock), limit=0)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))


async def settle(pid: int, timeout: float = 15.0) -> Sample:
    """The server's numbers once its runs are over and its clients gone: its spawn
    helper the only child, and its descriptors unchanged for a second."""
    deadline = time.monotonic() + timeout
    steady: list[Sample] = []
    while True:
        now = sample(pid)
        if now.children > 1 or (steady and now.fds != steady[0].fds):
            steady = []
        steady.append(now)
        if steady[-1].t - steady[0].t >= 1.0 or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.1)


async def soak(duration_s: float, work: Path, warm_up_s: float | None = None) -> Report:
    warm_up = warm_up_s if warm_up_s is not None else min(60.0, duration_s / 4)
    report = Report(duration_s)
    async with webtrace(work, **SETTINGS, results=f"sqlite:///{work}/results.sqlite3") as server:
        pid, process, sock = server.process.pid, server.process, server.sock
        # Warm up with the same load, so that what a server builds once exists.
        warm_deadline = time.monotonic() + warm_up
        async with session(sock) as client:
            await asyncio.gather(*(visitor(client, warm_deadline, Report(warm_up), n) for n in range(WORKERS)))
        report.idle_before = await settle(pid)
        deadline = time.monotonic() + duration_s

        async def sampler() -> None:
            while time.monotonic() < deadline:
                report.samples.append(sample(pid))
                await asyncio.sleep(SAMPLE_EVERY_S)

        async with session(sock) as client:
            await asyncio.gather(sampler(), *(visitor(client, deadline, report, n) for n in range(WORKERS)))
        report.idle_after = await settle(pid)
        if process.poll() is not None:
            report.failures.append("the server exited")
    judge(report)
    return report


def judge(report: Report) -> None:
    before, after = report.idle_before, report.idle_after
    assert before is not None and after is not None
    for name in ("fds", "threads", "children", "zombies"):
        grown = getattr(after, name) - getattr(before, name)
        if grown > MARGINS[name]:
            report.failures.append(f"{name} grew from {getattr(before, name)} to {getattr(after, name)} when idle")
    window = max(3, len(report.samples) // 5)
    if len(report.samples) >= 2 * window:
        first = statistics.median(s.rss_mb for s in report.samples[:window])
        last = statistics.median(s.rss_mb for s in report.samples[-window:])
        if last - first > MARGINS["rss_mb"]:
            report.failures.append(f"RSS grew from {first:.1f} MB to {last:.1f} MB under the same load")
    if sum(report.requests.values()) == 0:
        report.failures.append("no request was made")


def summary(report: Report) -> dict[str, Any]:
    return {
        "duration_s": report.duration_s,
        "requests": sum(report.requests.values()),
        "by_kind": dict(report.requests),
        "statuses": {str(k): v for k, v in sorted(report.statuses.items())},
        "series": report.series(),
        "idle_before": vars(report.idle_before) if report.idle_before else None,
        "idle_after": vars(report.idle_after) if report.idle_after else None,
        "margins": MARGINS,
        "failures": report.failures[:50],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load after the warm-up (600)")
    parser.add_argument("--out", type=Path, help="write the summary as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="webtrace-soak-") as work:
        report = asyncio.run(soak(args.duration, Path(work)))
    result = summary(report)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)
    if report.failures:
        print(f"soak FAILED: {len(report.failures)} failures", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
