"""Helpers shared by the tests: reading SSE streams, finding tool processes, waiting."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

FAKES = Path(__file__).parent / "fakes"
DATA = Path(__file__).parent / "data"
TOOL_NAMES = {"ping", "traceroute", "mtr", "mtr-packet", "tracepath"}


@dataclass
class SSE:
    event: str
    id: str | None
    data: dict[str, Any]


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[SSE]:
    """Parse a text/event-stream response event by event, as a browser would."""
    fields: dict[str, list[str]] = {}
    async for raw in resp.content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if "data" in fields:
                yield SSE(
                    event=(fields.get("event") or ["message"])[0],
                    id=fields["id"][0] if fields.get("id") else None,
                    data=json.loads("\n".join(fields["data"])),
                )
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value.removeprefix(" "))


async def collect(resp: aiohttp.ClientResponse, timeout: float = 30) -> list[SSE]:
    async with asyncio.timeout(timeout):
        return [e async for e in sse_events(resp)]


def hop_table(events: Iterable[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The hop table as a client keeps it from (event, data) pairs: each hop's last
    row, without the rows a trim dropped."""
    rows: dict[int, dict[str, Any]] = {}
    for kind, data in events:
        if kind == "hop":
            rows[data["hop"]] = data
        elif kind == "trim":
            rows = {hop: row for hop, row in rows.items() if hop <= data["hops"]}
    return [rows[hop] for hop in sorted(rows)]


def tool_processes(parent: int | None = None) -> list[psutil.Process]:
    """Live (non-zombie) tool processes, descendants of ``parent`` (default: any)."""
    found = []
    if parent is not None:
        try:
            candidates = psutil.Process(parent).children(recursive=True)
        except psutil.NoSuchProcess:
            candidates = []
    else:
        candidates = list(psutil.process_iter())
    for proc in candidates:
        try:
            if proc.name() in TOOL_NAMES and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.NoSuchProcess:
            pass
    return found


def group_members(pgid: int) -> list[int]:
    """Pids of every process, zombies included, in process group ``pgid``."""
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc.pid)
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass
    return members


async def eventually(check: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


async def eventually_async(check: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.05) -> bool:
    """``eventually`` for a check that must ask something (a server) each time."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


def runs_started(app: Any) -> int:
    """How many runs the app has given a slot (each started, or ended before it could)."""
    from webtrace.web.keys import TOOLS
    from webtrace.web.metrics import METRICS

    registry = app[METRICS].registry
    return int(sum(registry.get_sample_value("webtrace_runs_started_total", {"tool": t}) or 0 for t in app[TOOLS]))


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on: free a moment ago, to listen on or to
    find closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when this returns


@dataclass
class FakeNode:
    url: str
    printed: list[str] = field(default_factory=list)  # what it printed, once stopped


@contextmanager
def fake_node(script: str, *args: str, host: str = "127.0.0.1", scheme: str = "http") -> Iterator[FakeNode]:
    """A node that misbehaves on purpose (``tests/fakes/<script>``, a real process on
    loopback that prints its port first)."""
    process = subprocess.Popen([sys.executable, str(FAKES / script), *args], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    node = FakeNode("")
    try:
        node.url = f"{scheme}://{host}:{int(process.stdout.readline())}"
        yield node
    finally:
        process.kill()
        out, _ = process.communicate()
        node.printed.extend(out.splitlines())
