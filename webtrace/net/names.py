"""Reverse-DNS names of hop addresses, looked up off the streaming path.

The tools run with their own lookups off, so a slow PTR answer never holds a
probe back; webtrace asks instead, through the system's resolver (``/etc/hosts``
first, then DNS, as nsswitch says), a few addresses at a time, each answer
kept for a while. A lookup is shared by every run that wants the same address,
and it belongs to the cache, not to a run: a visitor who leaves does not cut
short a lookup another visitor waits for.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

# Asks the resolver for one address's name; blocking (it runs in a thread).
Ask = Callable[[str], "str | None"]

# A name worth showing: letters, digits, '-', '_' and dots, as in a host name.
# A PTR record can hold any bytes; anything else is treated as no name.
_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?", re.ASCII)
MAX_ENTRIES = 10_000
# An address without a name (or whose lookup timed out) is asked again after this long.
UNNAMED_TTL_S = 60.0


def system_ask(address: str) -> str | None:
    """The address's name from the system's resolver, or None if it has none."""
    try:
        name, _ = socket.getnameinfo((address, 0), socket.NI_NAMEREQD)
    except (OSError, UnicodeError):
        return None
    return name


def plain_name(name: str | None, address: str) -> str | None:
    """The name as shown to visitors, or None for none, the address itself, or
    anything that is not a host name (a PTR record is whatever its owner wrote)."""
    if not name:
        return None
    name = name.rstrip(".")
    if name == address or _HOST_NAME.fullmatch(name) is None:
        return None
    return name


class NameCache:
    """Names by address: known ones at once, others looked up at most
    ``concurrency`` at a time, each within ``timeout`` seconds, kept ``ttl`` seconds."""

    def __init__(
        self,
        *,
        timeout: float,
        ttl: float,
        concurrency: int,
        ask: Ask = system_ask,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.ttl = ttl
        self.max_entries = max_entries
        self._ask = ask
        self._clock = clock
        self._known: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._asking: dict[str, asyncio.Task[str | None]] = {}
        # A thread per lookup in flight, and no more: a resolver that hangs holds
        # at most this many threads, and nothing queues behind them unbounded.
        self._slots = asyncio.Semaphore(concurrency)
        self._threads = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webtrace-ptr")
        self.lookups = 0  # asked of the resolver
        self.timeouts = 0

    def known(self, address: str) -> tuple[bool, str | None]:
        """(whether the cache knows, the name or None) without asking anyone."""
        entry = self._known.get(address)
        if entry is None:
            return False, None
        name, expires = entry
        if self._clock() >= expires:
            del self._known[address]
            return False, None
        self._known.move_to_end(address)
        return True, name

    def lookup(self, address: str) -> asyncio.Task[str | None]:
        """The name of ``address`` (None: none, or no answer in time), shared with
        any lookup of it already under way."""
        task = self._asking.get(address)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._lookup(address))
            self._asking[address] = task
            task.add_done_callback(lambda _: self._asking.pop(address, None))
        return task

    async def _lookup(self, address: str) -> str | None:
        name: str | None = None
        try:
            async with asyncio.timeout(self.timeout):
                await self._slots.acquire()
                try:
                    work = self._threads.submit(self._ask, address)
                except BaseException:
                    self._slots.release()
                    raise
                self.lookups += 1
                loop = asyncio.get_running_loop()
                # The slot is free when the thread is, not when the wait gives up.
                work.add_done_callback(lambda _: loop.call_soon_threadsafe(self._slots.release))
                name = plain_name(await asyncio.wrap_future(work), address)
        except TimeoutError:
            self.timeouts += 1
        except Exception:  # a resolver that raises must not break a run
            log.warning("looking up the name of %s failed", address, exc_info=True)
        self._remember(address, name)
        return name

    def _remember(self, address: str, name: str | None) -> None:
        ttl = self.ttl if name is not None else min(self.ttl, UNNAMED_TTL_S)
        self._known[address] = (name, self._clock() + ttl)
        self._known.move_to_end(address)
        while len(self._known) > self.max_entries:
            self._known.popitem(last=False)

    def close(self) -> None:
        for task in self._asking.values():
            task.cancel()
        # Threads blocked in the resolver cannot be interrupted; none is waited for.
        self._threads.shutdown(wait=False, cancel_futures=True)
