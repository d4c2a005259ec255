"""Asking another node: one GET on a connection of its own, its answer read as it arrives.

A front sets up a part on every node for each visitor's run, hundreds at once when a
crowd arrives, so what one request costs here is what a crowd waits for. aiohttp's
client spent about 1.4 ms of CPU on each part (its session, middlewares, timers, pool
and response objects serve far more than this one kind of GET); this writes the request
at once and hands the answer to httptools (llhttp, Node.js's HTTP parser), which reads
the status line, the headers and the chunked body.

What the node says is untrusted: its head is refused past ``MAX_HEAD_BYTES``, reading
stops while ``HIGH_WATER`` bytes wait to be passed on, an answer silent for ``silence``
seconds fails, and so does one still coming at its ``deadline``. A connection is never
reused, so a request is never sent on one the node may be closing, and never sent twice:
a run asked twice could run twice.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
import os
import socket
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

import aiohappyeyeballs
import httptools
from yarl import URL

MAX_HEAD_BYTES = 64 * 1024  # a status line and headers; a node's are a few hundred bytes
HIGH_WATER = 256 * 1024  # bytes read and not yet passed on, before reading pauses
USER_AGENT = "webtrace"
# A node's addresses are looked up again after this many seconds: a crowd's parts share
# one lookup, and a node that moved is found within it.
ADDRESSES_TTL_S = 10.0
# Happy eyeballs (RFC 8305): the next of a node's addresses is tried after this long
# without an answer, so a node with a broken IPv6 path is still reached over IPv4.
NEXT_ADDRESS_S = 0.25
# Request lines kept (``_request_line``): a crowd's parts mostly ask the same.
LINES_KEPT = 256

AddrInfo = tuple[Any, ...]  # as getaddrinfo gives them


class NodeError(Exception):
    """Asking failed: the node broke off, sent what is not HTTP, or too much of it."""


class ConnectTimeout(TimeoutError):
    """No connection within the time given for one."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no connection within {seconds:g} s")
        self.seconds = seconds


class TooLong(TimeoutError):
    """The answer, or connecting for it, was still under way when its deadline passed (a
    node that trickles, or never ends)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"it did not end within {seconds:g} s")
        self.seconds = seconds


class CannotConnect(NodeError):
    """No connection: nothing was asked."""

    def __init__(self, error: OSError) -> None:
        super().__init__(_why_not(error))
        self.os_error = error


def _why_not(error: OSError) -> str:
    """Why connecting failed, as the system or the TLS library says it (the loop's own
    message names the address and port, which a visitor need not read)."""
    if isinstance(error, ConnectTimeout):
        return f"cannot connect (no answer within {error.seconds:g} s)"
    if isinstance(error, socket.gaierror):
        return f"cannot connect ({str(error.strerror).lower()})"
    if isinstance(error, ssl.SSLError):
        return f"cannot connect (TLS: {(error.reason or str(error)).lower().replace('_', ' ')})"
    if error.errno:
        return f"cannot connect ({os.strerror(error.errno).lower()})"
    return f"cannot connect ({error})"


@dataclass(slots=True)
class Endpoint:
    """A node's base URL, taken apart once: where to connect, and what every request says."""

    host: str  # as DNS and TLS know it (an international name in its ASCII form)
    port: int
    tls: bool
    base_path: str  # percent-encoded, no trailing slash
    head: bytes  # the headers every request to it carries (Host, and credentials in its URL)
    literal: list[AddrInfo] | None = None  # where it is, when its URL names an address
    _lookup: asyncio.Future[list[AddrInfo]] | None = field(default=None, repr=False)
    _looked_up_at: float = 0.0

    async def addresses(self) -> list[AddrInfo]:
        """Where the node is: its address as written, or its name's, looked up at most once
        every ADDRESSES_TTL_S (a lookup under way is shared, and a failed one not kept)."""
        if self.literal is not None:
            return self.literal
        loop = asyncio.get_running_loop()
        lookup = self._lookup
        if lookup is None or (lookup.done() and (lookup.cancelled() or lookup.exception() is not None
                                                 or loop.time() - self._looked_up_at > ADDRESSES_TTL_S)):
            self._looked_up_at = loop.time()
            lookup = self._lookup = asyncio.ensure_future(
                loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM))
        # Shielded: a part that leaves does not end the lookup the others wait for.
        return await asyncio.shield(lookup)

    @classmethod
    def of(cls, url: str) -> Endpoint:
        parsed = URL(url)
        host = parsed.raw_host
        assert host is not None and parsed.port is not None  # WEBTRACE_NODES was checked
        authority = f"[{host}]" if ":" in host else host
        if not parsed.is_default_port():
            authority += f":{parsed.port}"
        head = f"Host: {authority}\r\nUser-Agent: {USER_AGENT}\r\nConnection: close\r\n"
        if parsed.user is not None:
            credentials = f"{parsed.user}:{parsed.password or ''}".encode()
            head += f"Authorization: Basic {base64.b64encode(credentials).decode('ascii')}\r\n"
        return cls(host, parsed.port, parsed.scheme == "https", parsed.raw_path.rstrip("/"), head.encode(),
                   _literal(host, parsed.port))

    def request(self, path: str, query: Mapping[str, str], headers: Mapping[str, str]) -> bytes:
        """The bytes of ``GET path?query`` (``headers``: this server's own values, never a visitor's text).
        Its line is made once for each path and query (encoding the query was most of a request's making)."""
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return _request_line(self.base_path + path, tuple(query.items()), self.head) + extra.encode("latin-1") + b"\r\n"


@functools.lru_cache(maxsize=LINES_KEPT)
def _request_line(path: str, query: tuple[tuple[str, str], ...], head: bytes) -> bytes:
    """``GET path?query`` and the headers every request to its node carries."""
    target = URL.build(path=path, encoded=True).with_query(query).raw_path_qs
    return f"GET {target} HTTP/1.1\r\n".encode() + head


class Answer(asyncio.Protocol):
    """A node's answer: its ``status`` once the head has arrived, then its body as it comes.

    One timer watches it from the first moment: connecting may take ``connect_timeout``
    seconds, then the answer may be silent for ``silence``, and it must be whole within
    ``deadline`` seconds of its start, however it trickles. One timer a part, where a
    timeout around the connecting and another around the whole part each cost a part
    about a tenth more to set up (a crowd's parts each set one up)."""

    def __init__(self, silence: float, connect_timeout: float, loop: asyncio.AbstractEventLoop,
                 connecting: asyncio.Task[Any], deadline: float | None = None) -> None:
        self.status = 0
        self._parser = httptools.HttpResponseParser(self)
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._head_bytes = 0
        self._head: asyncio.Future[int] = self._loop.create_future()
        self._body: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._complete = False  # the whole message arrived
        self._failure: BaseException | None = None  # why no more will come, when not the end of the message
        self._wake: asyncio.Future[None] | None = None
        self._silence = silence
        self._heard = self._loop.time()
        self._deadline = deadline
        self._ends_by = self._heard + deadline if deadline is not None else float("inf")
        self._connect_timeout = connect_timeout
        # The task connecting, until it has: the watch cancels it when connecting takes too long.
        self._connecting: asyncio.Task[Any] | None = connecting
        self._expired: TimeoutError | None = None  # why the watch cancelled connecting
        self._watch: asyncio.TimerHandle | None = self._loop.call_later(
            min(connect_timeout, silence, self._ends_by - self._heard), self._check)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's subclasses
        self._heard = self._loop.time()  # silence counts from here (the watch set at the start sees it)

    def data_received(self, data: bytes) -> None:
        self._heard = self._loop.time()
        if not self._head.done():
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(NodeError("it answered with a protocol switch, not a stream"))
        except httptools.HttpParserError:
            self._fail(NodeError("it answered with what is not HTTP"))
        else:
            if not self._head.done() and self._head_bytes > MAX_HEAD_BYTES:
                self._fail(NodeError("it answered with a head too long to be one"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._watch is not None:
            self._watch.cancel()
        if not self._complete and self._failure is None:
            self._failure = NodeError("it broke off before answering" if not self._head.done()
                                      else "it broke off before the end of the run")
        self._settle()

    # httptools' callbacks

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        if not self._head.done():
            self._head.set_result(self.status)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake_reader()

    def on_message_complete(self) -> None:
        self._complete = True
        self._wake_reader()

    # the part's side

    @property
    def buffered(self) -> int:
        """Bytes of the body read from the node and not yet taken."""
        return self._buffered

    async def ask(self, request: bytes) -> int:
        """Send ``request``; the answer's status, once its head has arrived."""
        assert self._transport is not None
        self._transport.write(request)
        return await self._head

    async def chunk(self) -> bytes:
        """The body's next chunk as soon as it arrives; ``b""`` once the whole body has.
        Raises NodeError or TimeoutError if it ends otherwise than whole. (A method,
        not an async generator: one of those costs a part the loop's hooks for it, and
        a task to close it when the part stops reading at its ``end``.)"""
        while not self._body:
            if self._complete:
                return b""
            if self._failure is not None:
                raise self._failure
            self._wake = self._loop.create_future()
            try:
                await self._wake
            finally:
                self._wake = None
        chunk = self._body.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered <= HIGH_WATER // 2 and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return chunk

    async def read(self, most: int) -> bytes:
        """The body, or its first ``most`` bytes; whatever arrived if it broke off."""
        got = bytearray()
        try:
            while len(got) < most and (chunk := await self.chunk()):
                got += chunk
        except NodeError:
            pass
        return bytes(got[:most])

    def close(self) -> None:
        """Done with it: the connection is dropped (a run's node sees its visitor leave)."""
        if self._transport is not None:
            self._transport.abort()
        if self._watch is not None:
            self._watch.cancel()

    async def __aenter__(self) -> Answer:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()

    def _check(self) -> None:
        """The watch: connecting for too long, silent for too long once connected, or
        still coming at the deadline."""
        now = self._loop.time()
        if now >= self._ends_by:
            assert self._deadline is not None
            if self._transport is not None:
                self._fail(TooLong(self._deadline))
            elif self._connecting is not None:  # still connecting: ``ask`` says TooLong
                self._expired = TooLong(self._deadline)
                self._connecting.cancel()
            return
        if self._transport is None:
            if self._connecting is None:
                return  # it failed to connect, and said so
            waited = now - self._heard
            if waited < self._connect_timeout:
                self._watch = self._loop.call_later(min(self._connect_timeout - waited, self._ends_by - now),
                                                    self._check)
                return
            self._expired = ConnectTimeout(self._connect_timeout)
            self._connecting.cancel()  # ``ask`` says ConnectTimeout
            return
        quiet = now - self._heard
        if quiet < self._silence:
            self._watch = self._loop.call_later(min(self._silence - quiet, self._ends_by - now), self._check)
            return
        self._fail(TimeoutError())

    def connected(self) -> None:
        """Connecting is over (the watch cancels nothing from now on)."""
        self._connecting = None

    def expired(self) -> TimeoutError | None:
        """Why the watch cancelled connecting (it took too long), if it did."""
        return self._expired

    def _fail(self, why: BaseException) -> None:
        if self._failure is None and not self._complete:
            self._failure = why
        if self._transport is not None:
            self._transport.abort()
        self._settle()

    def _settle(self) -> None:
        if not self._head.done():
            self._head.set_exception(self._failure or NodeError("it broke off before answering"))
            self._head.exception()  # retrieved: a part that left already does not ask for it
        self._wake_reader()

    def _wake_reader(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)


def _literal(host: str, port: int) -> list[AddrInfo] | None:
    """An address written as such, as getaddrinfo would give it, without asking anyone."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version == 6:
        return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port, 0, 0))]
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))]


async def ask(endpoint: Endpoint, path: str, query: Mapping[str, str], headers: Mapping[str, str], *,
              connect_timeout: float, silence: float, deadline: float | None = None,
              tls: ssl.SSLContext | None = None) -> Answer:
    """``GET path?query`` on a new connection to the node; the answer once its head has
    arrived. Raises CannotConnect (no connection, or none within ``connect_timeout``),
    NodeError, or TimeoutError (silence for ``silence`` seconds; TooLong: the answer,
    its body included, not whole within ``deadline`` seconds from now). ``tls``: the
    context for an https node (made once by the caller: making one reads every CA
    certificate)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    cancelling = task.cancelling()
    answer = Answer(silence, connect_timeout, loop, task, deadline)  # (each asking for these is a system call on 3.11)
    try:
        try:
            addresses = await endpoint.addresses()
            context = (tls or ssl.create_default_context()) if endpoint.tls else None
            hostname = endpoint.host if endpoint.tls else None
            if len(addresses) == 1:
                # The loop connects a single address itself: handing it a socket connected by
                # happy eyeballs (below) costs a part a third more CPU on uvloop, which looks
                # the address up again on a thread.
                family, *_, (address, port, *_) = addresses[0]
                await loop.create_connection(lambda: answer, address, port, family=family, ssl=context,
                                             server_hostname=hostname)
            else:
                sock = await aiohappyeyeballs.start_connection(addresses, happy_eyeballs_delay=NEXT_ADDRESS_S)
                # The socket is the transport's now: it closes it, whatever happens.
                await loop.create_connection(lambda: answer, sock=sock, ssl=context, server_hostname=hostname)
        except asyncio.CancelledError:
            # The watch's cancel, and no other (told apart as asyncio.timeout does): too long.
            if (expired := answer.expired()) is not None and task.uncancel() <= cancelling:
                raise (CannotConnect(expired) if isinstance(expired, ConnectTimeout) else expired) from None
            raise
        except OSError as exc:
            raise CannotConnect(exc) from exc
        finally:
            answer.connected()
        await answer.ask(endpoint.request(path, query, headers))
    except BaseException:
        answer.close()
        raise
    return answer
