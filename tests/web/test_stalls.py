"""The stall watch, on real sockets: a write that waits too long loses its connection,
and a quiet event stream is sent its keep-alive."""

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

from aiohttp import web

from webtrace.web.stalls import StallWatch, Writes


class Connection:
    """What the watch reads of a request: its transport (here a real socket's)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport: asyncio.Transport | None = transport


async def connection() -> tuple[Connection, socket.socket, asyncio.Event]:
    ours, theirs = socket.socketpair()
    lost = asyncio.Event()

    class Protocol(asyncio.Protocol):
        def connection_lost(self, exc: Exception | None) -> None:
            lost.set()

    transport, _ = await asyncio.get_running_loop().connect_accepted_socket(Protocol, ours)
    return Connection(cast(asyncio.Transport, transport)), theirs, lost


def as_request(conn: Connection) -> web.BaseRequest:
    return cast(Any, conn)


async def test_a_write_that_waits_too_long_loses_its_connection() -> None:
    watch = StallWatch(0.1)
    stalled, peer, lost = await connection()
    watch.watch(as_request(stalled)).since = time.monotonic()  # a write began, and waits
    await asyncio.wait_for(lost.wait(), 2)
    assert stalled.transport is not None and stalled.transport.is_closing()
    peer.close()
    watch.close()


async def test_a_stream_between_writes_is_left_alone_and_the_check_stops_with_the_last_stream() -> None:
    watch = StallWatch(0.1)
    busy, peer, lost = await connection()
    writes = watch.watch(as_request(busy))
    for _ in range(3):  # writes that finish, as a sink's do
        writes.since = time.monotonic()
        writes.since = None
    # Another stream's stall is ended after at most 1.5 limits; by then the
    # stream between writes would have been ended too, were it taken for one.
    other, other_peer, other_lost = await connection()
    watch.watch(as_request(other)).since = time.monotonic()
    await asyncio.wait_for(other_lost.wait(), 2)
    assert not lost.is_set() and watch._check is not None
    watch.forget(writes)
    watch._look()  # the next check, come now: nothing left to watch
    assert watch._check is None  # no timer keeps running
    for sock in (peer, other_peer):
        sock.close()
    assert busy.transport is not None
    busy.transport.close()


async def test_a_quiet_stream_is_kept_alive_once_a_quiet_spell_and_a_busy_one_is_not() -> None:
    watch = StallWatch(60.0, quiet_s=0.1)
    kept: list[str] = []
    quiet_again = asyncio.Event()

    def keepalive(name: str) -> Callable[[Writes], Coroutine[Any, Any, None]]:
        async def send(writes: Writes) -> None:
            kept.append(name)
            quiet_again.set()
        return send

    quiet, quiet_peer, _ = await connection()
    busy, busy_peer, _ = await connection()
    text, text_peer, _ = await connection()
    watch.watch(as_request(quiet), keepalive("quiet"))
    busy_writes = watch.watch(as_request(busy), keepalive("busy"))
    watch.watch(as_request(text))  # a text stream: nothing to send it
    async with asyncio.timeout(5):
        for _ in range(2):
            quiet_again.clear()
            waiting = asyncio.ensure_future(quiet_again.wait())
            while not waiting.done():  # the busy stream writes every 20 ms meanwhile, as a sink's writes do
                busy_writes.began = time.monotonic()
                await asyncio.wait([waiting], timeout=0.02)
    assert kept == ["quiet", "quiet"]  # once for each quiet spell, none for the busy stream
    watch.close()
    for conn, peer in ((quiet, quiet_peer), (busy, busy_peer), (text, text_peer)):
        peer.close()
        assert conn.transport is not None
        conn.transport.close()
