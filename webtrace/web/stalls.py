"""Streams whose client stopped reading, and event streams gone quiet, found by
one periodic check.

A client that stops reading without leaving would hold its run for as long
as the tool runs. A write that has waited ``limit_s`` for the client is a
stall: its connection is aborted, which fails the write and ends the run as
a disconnect does. One timer for all streams, rather than a timeout around
each write: a busy server writes thousands of times a second, and arming and
cancelling a timer for each was a sixteenth of its CPU. For the same reason a
write only sets the time it began on its stream's ``Writes``, and clears it.

The same check keeps a quiet event stream alive: one that has written nothing
for ``quiet_s`` is sent a comment (``keepalive``), so that proxies do not close
it while a tool is silent. aiohttp-sse does this with a task a stream, which
cost a short run a thirtieth of its instructions to start and cancel.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

Keepalive = Callable[["Writes"], Coroutine[Any, Any, None]]


class Writes:
    """One stream's writes, as the watch sees them: ``since``, when the write under
    way began (``time.monotonic``), None between writes; ``began``, when the last
    one began; ``keepalive``, what to send when it has been quiet too long (None:
    nothing, a text stream)."""

    __slots__ = ("request", "since", "began", "keepalive")

    def __init__(self, request: web.BaseRequest, keepalive: Keepalive | None = None) -> None:
        self.request = request
        self.since: float | None = None
        self.began = time.monotonic()
        self.keepalive = keepalive


class StallWatch:
    def __init__(self, limit_s: float, quiet_s: float = float("inf")) -> None:
        self.limit_s = limit_s
        self.quiet_s = quiet_s
        # Checks twice a limit, so a stall is ended between 1 and 1.5 limits in, and
        # a quiet stream hears from the server between 1 and 1.5 ``quiet_s`` after its last write.
        self.every_s = min(limit_s, quiet_s) / 2
        self._streams: set[Writes] = set()
        self._check: asyncio.TimerHandle | None = None
        self._keeping: set[asyncio.Task[None]] = set()

    def watch(self, request: web.BaseRequest, keepalive: Keepalive | None = None) -> Writes:
        """``request``'s stream, watched until ``forget``."""
        writes = Writes(request, keepalive)
        self._streams.add(writes)
        if self._check is None:
            self._check = asyncio.get_running_loop().call_later(self.every_s, self._look)
        return writes

    def forget(self, writes: Writes) -> None:
        self._streams.discard(writes)

    def close(self) -> None:
        if self._check is not None:
            self._check.cancel()
            self._check = None

    def _look(self) -> None:
        now = time.monotonic()
        for writes in list(self._streams):
            if writes.since is not None:
                if now - writes.since >= self.limit_s:
                    self._streams.discard(writes)
                    if writes.request.transport is not None:
                        writes.request.transport.abort()
            elif writes.keepalive is not None and now - writes.began >= self.quiet_s:
                writes.began = now  # one comment a quiet spell, even if this one is slow to leave
                task = asyncio.get_running_loop().create_task(writes.keepalive(writes))
                self._keeping.add(task)
                task.add_done_callback(self._keeping.discard)
        self._check = asyncio.get_running_loop().call_later(self.every_s, self._look) if self._streams else None


STALLS: web.AppKey[StallWatch] = web.AppKey("stalls")
