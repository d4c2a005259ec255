"""Where results are kept: the interface every backend offers, and the in-memory one.

A backend receives writes in batches (``Batch``, one per result per flush)
from ``writer.ResultWriter``, never from the streaming path itself. Each method
may raise ``StoreError``: the caller logs it, and the live run goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import orjson

from .records import Result, StoredEvent


class StoreError(Exception):
    """The store could not do what was asked (full, read-only, locked, corrupt, unreachable).
    From ``save``: ``unsaved`` names the results whose batches were not written (None: all)."""

    def __init__(self, message: str, unsaved: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.unsaved = unsaved


@dataclass(slots=True)
class Batch:
    """What one flush writes of one result: its description the first time, the
    events since the last flush, and its end once it ended."""

    result_id: str
    meta: dict[str, Any] | None = None
    started_at: float = 0.0
    events: list[StoredEvent] = field(default_factory=list)
    # Each event's data as JSON, where the recorder encoded it already (to weigh it).
    encoded: list[bytes] = field(default_factory=list)
    ended_at: float | None = None
    status: str | None = None
    cut: bool = False
    incomplete: bool = False
    # Events written before and superseded since (a continuous run's older hop rows):
    # the store removes them.
    dropped: list[int] = field(default_factory=list)

    def encode(self) -> None:
        """Encode what was not encoded yet, so that ``encoded`` matches ``events``."""
        if len(self.encoded) != len(self.events):
            self.encoded = [orjson.dumps(data) for _, _, data in self.events]

    def encoded_events(self) -> list[tuple[int, str, bytes]]:
        """The events with their data as JSON, encoded once."""
        self.encode()
        return [(number, kind, raw) for (number, kind, _), raw in zip(self.events, self.encoded, strict=True)]


class Store(Protocol):
    name: str  # for the log: "sqlite:///var/lib/webtrace/results.sqlite3"
    ttl: float
    # Whether other servers record into it too (redis). In a store of this server's
    # alone, a result that is not recording here and has no end never will have one.
    shared: bool

    async def save(self, batches: Sequence[Batch]) -> Sequence[str]:
        """Write the batches; returns the results whose description the store no longer
        has (redis restarted empty), to be written again whole. Raises StoreError."""
        ...

    async def load(self, result_id: str) -> Result | None: ...

    def follow(self, result_id: str, after: int, until: float) -> AsyncIterator[tuple[list[StoredEvent], bool]]:
        """Events with an id above ``after`` and whether the result has ended, then (where
        the store is shared) each new one as it is written, until the end or ``until``
        (a Unix time). Raises StoreError."""
        ...

    async def expire(self) -> int: ...

    async def close(self) -> None: ...


class MemoryStore:
    """Results in this process's memory, gone when it stops (``memory://``)."""

    name = "memory://"
    shared = False

    def __init__(self, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self._clock = clock
        self._results: dict[str, Result] = {}
        self._expires: dict[str, float] = {}

    async def save(self, batches: Sequence[Batch]) -> Sequence[str]:
        for batch in batches:
            result = self._results.get(batch.result_id)
            if result is None:
                if batch.meta is None:
                    continue  # its start was lost (the store failed then): nothing to add to
                result = self._results[batch.result_id] = Result(batch.result_id, batch.meta, batch.started_at)
                self._expires[batch.result_id] = batch.started_at + self.ttl
            if batch.dropped:
                gone = set(batch.dropped)
                result.events = [event for event in result.events if event[0] not in gone]
            result.events.extend(batch.events)
            _apply_end(result, batch)
        return ()

    async def load(self, result_id: str) -> Result | None:
        result = self._results.get(result_id)
        if result is None or self._expires[result_id] <= self._clock():
            return None
        return replace(result, events=list(result.events))

    def follow(self, result_id: str, after: int, until: float) -> AsyncIterator[tuple[list[StoredEvent], bool]]:
        return follow_once(self, result_id, after)

    async def expire(self) -> int:
        now = self._clock()
        gone = [rid for rid, at in self._expires.items() if at <= now]
        for rid in gone:
            del self._results[rid], self._expires[rid]
        return len(gone)

    async def close(self) -> None:
        await asyncio.sleep(0)


async def follow_once(store: Store, result_id: str, after: int) -> AsyncIterator[tuple[list[StoredEvent], bool]]:
    """``follow`` for a store of one server's alone: what it holds, once."""
    result = await store.load(result_id)
    if result is not None:
        yield [event for event in result.events if event[0] > after], result.status is not None


def _apply_end(result: Result, batch: Batch) -> None:
    result.cut = result.cut or batch.cut
    result.incomplete = result.incomplete or batch.incomplete
    if batch.status is not None:
        result.status, result.ended_at = batch.status, batch.ended_at
