"""A TCP relay between the browser and the server that a test can make blip, or
that reaches a server the browser cannot (one on a unix socket in a network namespace).

``blip()`` closes every browser-side connection at once, as a network blip or
a NAT that forgets a connection would; the server-side ones stay open and what
the server sends on them is read and dropped, so the server does not learn of
it. New connections are relayed as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Relay:
    upstream: tuple[str, int] | Path  # host and port, or a unix socket
    port: int = 0
    _browser_sides: list[asyncio.StreamWriter] = field(default_factory=list)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)  # both sides of every connection
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def blip(self) -> None:
        for writer in self._browser_sides:
            writer.transport.abort()
        self._browser_sides.clear()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if isinstance(self.upstream, Path):
            up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
        else:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._browser_sides.append(writer)
        self._writers += [writer, up_writer]
        tasks = [asyncio.create_task(_pipe(reader, up_writer)), asyncio.create_task(_pipe(up_reader, writer))]
        self._tasks.update(tasks)
        await asyncio.wait(tasks)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        if writer.transport.is_closing():
            continue  # the browser side is gone: keep reading, so the server never notices
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()


@contextlib.asynccontextmanager
async def relay_to(base: str | Path) -> AsyncIterator[Relay]:
    """A relay to ``http://host:port``, or to a unix socket's path."""
    if isinstance(base, Path):
        relay = Relay(base)
    else:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        relay = Relay((host, int(port)))
    server = await asyncio.start_server(relay._connection, "127.0.0.1", 0)
    relay.port = server.sockets[0].getsockname()[1]
    try:
        yield relay
    finally:
        server.close()
        for task in relay._tasks:
            task.cancel()
        await asyncio.gather(*relay._tasks, return_exceptions=True)
        for writer in relay._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await server.wait_closed()
