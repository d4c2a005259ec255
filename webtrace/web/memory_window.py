"""The in-memory budgets (``async+memory://``, and the fallback while redis is
down): limits' own memory storage, with its moving-window entries expired by
one sweep a second on the event loop.

limits' storage starts a sweep of every key at each hit, whenever the last one
has ended, and hands each key's search to a worker thread and back. With
visitors spaced out, every run paid for a sweep: about 0.4 ms of CPU a run on a
2-core machine with one client, 10 ms with a hundred clients within the window,
and with a thousand the sweeps kept a core busy. Here the expired entries of all
keys are dropped once a second, on the loop, without a thread: a binary search
a key (about a microsecond), whatever the load.

The moving window is kept as limits' memory storage keeps it, and read as
limits reads it; its two calls (``acquire_entry``, ``get_moving_window``, the
storage interface webtrace's budgets use) are here as plain functions too
(``take``, ``window``), which a budget in memory calls without awaiting: nothing
in them waits, and the storage's own wrappers (two coroutines a call, for errors
a dictionary cannot raise) were a quarter of what a run's budget cost.
"""

from __future__ import annotations

import asyncio
import bisect
import time

from limits.aio.storage import MemoryStorage

SWEEP_S = 1.0


class Entry:
    """One run in a moving window, as limits' memory storage keeps one (its own
    class has moved between limits' versions)."""

    __slots__ = ("atime", "expiry")

    def __init__(self, expiry: float) -> None:
        self.atime = time.time()
        self.expiry = self.atime + expiry


class MemoryWindows(MemoryStorage):
    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._sweep: asyncio.TimerHandle | None = None

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return self.take(key, limit, expiry, amount)

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        return self.window(key, expiry)

    def take(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """limits' moving-window entry: at most ``limit`` entries within ``expiry`` seconds,
        newest first. (No lock: nothing here waits, so no other hit comes in between.)"""
        if amount > limit:
            return False
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(SWEEP_S, self.sweep)
        entries = self.events.setdefault(key, [])
        if len(entries) > limit - amount and entries[limit - amount].atime >= time.time() - expiry:
            return False
        entries[:0] = [Entry(expiry)] * amount  # type: ignore[list-item]  # (limits names its own class)
        return True

    def window(self, key: str, expiry: int) -> tuple[float, int]:
        """limits' moving window of ``key``: when its oldest entry within ``expiry`` seconds
        was made, and how many there are."""
        now = time.time()
        entries = self.events.get(key)
        if not entries:
            return now, 0
        within = bisect.bisect_left(entries, expiry - now, key=lambda entry: -entry.atime)
        return entries[within - 1].atime, within

    def sweep(self) -> None:
        """Drop every key's expired entries, and keys left with none; again in a
        second while any are left."""
        self._sweep = None
        now = time.time()
        for key, entries in list(self.events.items()):
            # Newest first, so those still to expire come before the first one expired.
            kept = bisect.bisect_left(entries, -now, key=lambda entry: -entry.expiry)
            if kept == 0:
                del self.events[key]
                getattr(self, "locks", {}).pop(key, None)  # (limits 4 has none)
            elif kept < len(entries):
                del entries[kept:]
        if self.events:
            self._sweep = asyncio.get_running_loop().call_later(SWEEP_S, self.sweep)

    async def reset(self) -> int | None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        return await super().reset()
