"""Streams whose client stopped reading, found by one periodic check.

A client that stops reading without leaving would hold its run for as long
as the tool runs. A write that has waited ``limit_s`` for the client is a
stall: its connection is aborted, which fails the write and ends the run as
a disconnect does. One timer for all streams, rather than a timeout around
each write: a busy server writes thousands of times a second, and arming and
cancelling a timer for each was a sixteenth of its CPU. For the same reason a
write only sets the time it began on its stream's ``Writes``, and clears it.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web


class Writes:
    """One stream's writes, as the watch sees them: ``since``, when the write under
    way began (``time.monotonic``), None between writes."""

    __slots__ = ("request", "since")

    def __init__(self, request: web.BaseRequest) -> None:
        self.request = request
        self.since: float | None = None


class StallWatch:
    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self._streams: set[Writes] = set()
        self._check: asyncio.TimerHandle | None = None

    def watch(self, request: web.BaseRequest) -> Writes:
        """``request``'s stream, watched until ``forget``."""
        writes = Writes(request)
        self._streams.add(writes)
        if self._check is None:
            # Checks twice a limit, so a stall is ended between 1 and 1.5 limits in.
            self._check = asyncio.get_running_loop().call_later(self.limit_s / 2, self._end_stalls)
        return writes

    def forget(self, writes: Writes) -> None:
        self._streams.discard(writes)

    def close(self) -> None:
        if self._check is not None:
            self._check.cancel()
            self._check = None

    def _end_stalls(self) -> None:
        now = time.monotonic()
        for writes in [w for w in self._streams if w.since is not None and now - w.since >= self.limit_s]:
            self._streams.discard(writes)
            if writes.request.transport is not None:
                writes.request.transport.abort()
        self._check = (asyncio.get_running_loop().call_later(self.limit_s / 2, self._end_stalls)
                       if self._streams else None)


STALLS: web.AppKey[StallWatch] = web.AppKey("stalls")
