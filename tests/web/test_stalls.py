"""The stall watch, on real sockets: a write that waits too long loses its connection."""

import asyncio
import socket
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
    watch.writing(as_request(stalled))
    await asyncio.wait_for(lost.wait(), 2)
    assert stalled.transport is not None and stalled.transport.is_closing()
    peer.close()
    watch.close()


async def test_writes_that_finish_are_forgotten_and_the_check_stops() -> None:
    watch = StallWatch(0.1)
    busy, peer, lost = await connection()
    for _ in range(3):
        watch.writing(as_request(busy))
        watch.written(as_request(busy))
    # Another stream's stall is ended after at most 1.5 limits; by then the
    # finished writer would have been ended too, had it not been forgotten.
    other, other_peer, other_lost = await connection()
    watch.writing(as_request(other))
    await asyncio.wait_for(other_lost.wait(), 2)
    assert not lost.is_set()
    assert watch._check is None  # nothing left to watch: no timer keeps running
    for sock in (peer, other_peer):
        sock.close()
    assert busy.transport is not None
    busy.transport.close()
