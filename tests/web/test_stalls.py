"""The stall watch, on real sockets: a write that waits too long loses its connection."""

import asyncio
import socket
import time
from typing import Any, cast

from aiohttp import web

from webtrace.web.stalls import StallWatch


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
    watch._end_stalls()  # the next check, come now: nothing left to watch
    assert watch._check is None  # no timer keeps running
    for sock in (peer, other_peer):
        sock.close()
    assert busy.transport is not None
    busy.transport.close()
