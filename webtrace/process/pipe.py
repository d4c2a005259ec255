"""A tool's output pipe, read straight from its descriptor.

The spawn helper hands the server the read end of each tool's pipe. Read through
asyncio's pipe transport and ``StreamReader``, every run paid for a file object,
a task and a shield to connect it, a protocol and its flow control, and the
weak references asyncio keeps of them: per run, more Python than the few reads
of a short ping. Here the loop calls ``PipeReader`` when the descriptor is
readable, and it reads into a buffer the runner takes from. Taking the
descriptor is not awaited, so no cancellation can fall between the helper's
answer and the pipe being owned (and closed exactly once).
"""

from __future__ import annotations

import asyncio
import os
from typing import Final

READ_SIZE: Final = 64 * 1024
# Unread output held at the most before the pipe is left unread (the tool then
# waits on a full pipe), as asyncio's StreamReader pauses its transport.
HIGH_WATER: Final = 2 * READ_SIZE


class PipeReader:
    """The read end of a pipe, read as the loop finds it readable; ``read`` as a
    ``StreamReader``'s (an empty ``bytes`` at the end), ``close`` once done."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._buffer = b""
        self._eof = False
        self._waiter: asyncio.Future[None] | None = None
        self._watching = False
        self._watch()

    def _watch(self) -> None:
        if not self._watching and not self._eof:
            self._loop.add_reader(self._fd, self._readable)
            self._watching = True

    def _unwatch(self) -> None:
        if self._watching:
            self._loop.remove_reader(self._fd)
            self._watching = False

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # a pipe that cannot be read is at its end, for a reader
        if data:
            self._buffer = self._buffer + data if self._buffer else data
            if len(self._buffer) >= HIGH_WATER:
                self._unwatch()
        else:
            self._eof = True
            self._unwatch()
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all, to the end, if ``n`` is negative), as soon as there
        are any; ``b""`` once the pipe has ended or was closed."""
        if n < 0:
            parts = []
            while part := await self.read(READ_SIZE):
                parts.append(part)
            return b"".join(parts)
        if not self._buffer and not self._eof:
            if self._waiter is not None:
                raise RuntimeError("the pipe is already being read")
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = self._buffer
        if len(data) > n:
            data, self._buffer = data[:n], data[n:]
        else:
            self._buffer = b""
        if len(self._buffer) < HIGH_WATER and self._fd >= 0:
            self._watch()
        return data

    def at_eof(self) -> bool:
        """Whether the pipe has ended and all it held was read."""
        return self._eof and not self._buffer

    def close(self) -> None:
        """Close the descriptor (once; later calls do nothing); a read waiting ends."""
        if self._fd < 0:
            return
        self._unwatch()
        os.close(self._fd)
        self._fd = -1
        self._eof = True
        self._buffer = b""
        self._wake()
