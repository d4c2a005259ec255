"""The visitors: streams asked over raw HTTP/1.1 and read a read at a time, each
line timed from the moment its tool printed it.

The load generator shares this machine's two cores with the servers it measures,
so every microsecond it spends is taken from theirs. Through aiohttp's client, a
crowd of 1000 five-probe runs cost this process 0.71-0.78 s of CPU, half the
server's; this protocol writes one request and takes the chunked body apart
itself, for 0.34-0.48 s (``benchmarks/README.md``). The server is asked as by any
HTTP/1.1 client and writes the same chunked stream. Each visitor has a connection
of its own, closed after its run, as visitors from different browsers do; aiohttp's
pool handed a finished visitor's connection to the next.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .stamped import latency_of

# As long as a visitor waits for a whole stream, as the aiohttp client's timeout was.
STREAM_TIMEOUT_S = 120.0
_STATUS = re.compile(rb'"status":"([a-z_]+)"')
_MAX_HEAD = 1 << 16


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


@dataclass(frozen=True)
class Dialer:
    """Where visitors connect: a server at ``http://webtrace`` on the unix socket ``sock``,
    and any ``http://HOST:PORT`` over TCP."""

    sock: Path | None = None

    async def open(self, url: str, protocol: asyncio.Protocol) -> None:
        parts = urlsplit(url)
        loop = asyncio.get_running_loop()
        if parts.port is None:
            if self.sock is None:
                raise ValueError(f"no socket to reach {url} on")
            await loop.create_unix_connection(lambda: protocol, str(self.sock))
        else:
            await loop.create_connection(lambda: protocol, parts.hostname or "localhost", parts.port)


class _Body:
    """The lines of one stream as they arrive: what a visitor saw of them, into ``into``."""

    def __init__(self, asked: float, into: Streams, sse: bool, seen: Callable[[bytes], None] | None,
                 parts: int, ok: bytes) -> None:
        self.asked, self.into, self.sse, self.seen, self.parts, self.ok = asked, into, sse, seen, parts, ok
        self.first, self.at_end, self.bad, self.pending = True, False, 0, b""
        self.ends = 0 if sse else parts

    def feed(self, data: bytes, now: float) -> None:
        whole, newline, self.pending = (self.pending + data).rpartition(b"\n")
        if not newline:
            return
        into = self.into
        for raw in whole.split(b"\n"):
            if self.seen is not None:
                self.seen(raw)
            if self.sse and raw.startswith(b"event: "):
                self.at_end = raw.startswith(b"event: end")
            elif self.at_end and raw.startswith(b"data: "):
                self.at_end = False
                status = _STATUS.search(raw)
                if status is not None and status.group(1) == self.ok:
                    self.ends += 1
                else:
                    self.bad += 1
                    into.failures.append(f"ended {status.group(1).decode() if status else 'without a status'}")
            latency = latency_of(raw, now)
            if latency is None:
                continue
            into.latency.append(latency)
            into.printed.append(now - latency)
            if self.first:
                into.first_line.append(now - latency - self.asked)
                self.first = False

    def close(self) -> None:
        if self.ends == self.parts and not self.first:
            self.into.completed += 1
        elif self.ends + self.bad < self.parts:
            self.into.failures.append("stream ended early")


class _Visit(asyncio.Protocol):
    """One request on its own connection, its response's head parsed and its chunked body
    decoded as each read arrives, a chunk at a time once the whole chunk is in."""

    def __init__(self, request: bytes, body: _Body) -> None:
        self.request, self.body = request, body
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.head: bytes | None = b""  # None once the head is read
        self.chunked = False
        self.undecoded = b""
        self.refused = False  # answered, but not with a stream to read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if self.head is not None:
            data = self._read_head(data, now)
            if not data:
                return
        if self.chunked:
            data = self._dechunk(data)
        if data:
            self.body.feed(data, now)

    def _read_head(self, data: bytes, now: float) -> bytes:
        assert self.head is not None
        head, end, rest = (self.head + data).partition(b"\r\n\r\n")
        if not end:
            self.head = head
            if len(head) > _MAX_HEAD:
                self._finish("head too long")
            return b""
        self.head = None
        self.body.into.ttfb.append(now - self.body.asked)
        status = head[9:12]
        if status != b"200":
            self._finish(f"HTTP {status.decode(errors='replace')}")
            return b""
        fields = head.lower()
        if b"\r\ncontent-encoding:" in fields:
            self._finish("a compressed body")
            return b""
        self.chunked = b"\r\ntransfer-encoding: chunked" in fields
        return rest

    def _dechunk(self, data: bytes) -> bytes:
        buffer = self.undecoded + data if self.undecoded else data
        out: list[bytes] = []
        at = 0
        while (size_end := buffer.find(b"\r\n", at)) >= 0:
            size = int(buffer[at:size_end].split(b";", 1)[0], 16)
            if size == 0:
                self._finish(None)
                at = len(buffer)
                break
            chunk_end = size_end + 2 + size
            if chunk_end + 2 > len(buffer):
                break  # the rest of this chunk is still to come
            out.append(buffer[size_end + 2:chunk_end])
            at = chunk_end + 2
        self.undecoded = buffer[at:]
        return b"".join(out)

    def _finish(self, failure: str | None) -> None:
        if failure is not None:
            self.refused = True
            self.body.into.failures.append(failure)
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def stream(dialer: Dialer, url: str, arrive: float, into: Streams, sse: bool,
                 seen: Callable[[bytes], None] | None = None, parts: int = 1, ok: bytes = b"ok") -> None:
    """One visitor arriving at wall-clock time ``arrive``; times count from then.
    ``seen`` is shown every line read, as it is read. An SSE stream is complete once
    it has sent ``parts`` ends with the status ``ok`` (one per node, for a run from several;
    a continuous run's that ran its most ends ``timeout``). The lines of one read are
    timed together: a line at a time cost this process a fifth more CPU."""
    await asyncio.sleep(max(0.0, arrive - time.time()))
    where = urlsplit(url)
    path = f"{where.path or '/'}?{where.query}" if where.query else where.path or "/"
    request = (f"GET {path} HTTP/1.1\r\nHost: {where.netloc}\r\nAccept: */*\r\n"
               f"Accept-Encoding: identity\r\nConnection: close\r\n\r\n").encode()
    body = _Body(arrive, into, sse, seen, parts, ok)
    visit = _Visit(request, body)
    try:
        async with asyncio.timeout(STREAM_TIMEOUT_S):
            await dialer.open(url, visit)
            await visit.done
    except (TimeoutError, OSError) as exc:
        into.failures.append(type(exc).__name__)
        if visit.transport is not None:
            visit.transport.close()
        return
    if visit.refused:
        return
    if visit.head is not None:
        into.failures.append("closed before its headers")
        return
    body.close()
