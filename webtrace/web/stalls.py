"""Streams whose client stopped reading, found by one periodic check.

A client that stops reading without leaving would hold its run for as long
as the tool runs. A write that has waited ``limit_s`` for the client is a
stall: its connection is aborted, which fails the write and ends the run as
a disconnect does. One timer for all streams, rather than a timeout around
each write: a busy server writes thousands of times a second, and arming and
cancelling a timer for each was a sixteenth of its CPU.
"""

from __future__ import annotations

import asyncio

from aiohttp import web


class StallWatch:
    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        # id(request) -> (loop time its write began, request); requests are not hashable.
        self._writing: dict[int, tuple[float, web.BaseRequest]] = {}
        self._check: asyncio.TimerHandle | None = None
        # The loop the app runs in, found at the first write: asking for it again at each
        # write costs a system call each (getpid, on Python 3.11).
        self._loop: asyncio.AbstractEventLoop | None = None

    def writing(self, request: web.BaseRequest) -> None:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._writing[id(request)] = (loop.time(), request)
        if self._check is None:
            # Checks twice a limit, so a stall is ended between 1 and 1.5 limits in.
            self._check = loop.call_later(self.limit_s / 2, self._end_stalls)

    def written(self, request: web.BaseRequest) -> None:
        self._writing.pop(id(request), None)

    def close(self) -> None:
        if self._check is not None:
            self._check.cancel()
            self._check = None

    def _end_stalls(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        stalled = [key for key, (since, _) in self._writing.items() if now - since >= self.limit_s]
        for key in stalled:
            _, request = self._writing.pop(key)
            if request.transport is not None:
                request.transport.abort()
        self._check = loop.call_later(self.limit_s / 2, self._end_stalls) if self._writing else None


STALLS: web.AppKey[StallWatch] = web.AppKey("stalls")
