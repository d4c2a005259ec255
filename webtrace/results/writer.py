"""Writes to the store in batches, off the streaming path.

A run hands its events over with ``add`` (no waiting, no I/O); every
``interval`` seconds (``FLUSH_INTERVAL_S`` or ``LOCAL_FLUSH_INTERVAL_S``), the
events of every run since the last flush go to the store in one call. If the
store fails, the batches wait and are tried again (once a second): an outage
shorter than the backlog loses nothing. What the backlog cannot hold
(``MAX_BACKLOG`` results) is dropped, oldest first, and the results it
belonged to are marked incomplete. One warning is logged when storing fails
(not one per flush), and one line when it works again.

A burst (a crowd arriving at once) does not wait for its time: once
``MAX_WAITING_EVENTS`` events wait, the flush is due at once, so the longer
interval of a store of one server's costs no memory in a crowd.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from .records import StoredEvent
from .store import Batch, Store, StoreError

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.1  # a shared store (redis): followers elsewhere read what is written
LOCAL_FLUSH_INTERVAL_S = 0.5  # a store of one server's (SQLite): read live from memory meanwhile
# Events waiting at the most before a flush is due at once, however long till its time:
# a crowd's burst is written as often as a shared store's, and held no longer in memory.
MAX_WAITING_EVENTS = 2000
RETRY_INTERVAL_S = 1.0
MAX_BACKLOG = 256  # results whose writes wait for a failing store


class ResultWriter:
    def __init__(self, store: Store, interval: float = FLUSH_INTERVAL_S, *,
                 retry_interval: float = RETRY_INTERVAL_S, max_backlog: int = MAX_BACKLOG,
                 max_waiting: int = MAX_WAITING_EVENTS,
                 rewrite: Callable[[str], Batch | None] = lambda result_id: None,
                 saved: Callable[[str, int], None] = lambda result_id, number: None) -> None:
        self.store = store
        self.rewrite = rewrite  # a result whole, as the server holding it has it now
        self.saved = saved  # told that the store holds a result's events up to a number
        self.interval = interval
        self.retry_interval = retry_interval
        self.max_backlog = max_backlog
        self.max_waiting = max_waiting
        self._waiting = 0  # events in ``_pending``, as added
        self._timer: asyncio.TimerHandle | None = None  # a flush waiting for its time
        self._pending: dict[str, Batch] = {}  # in the order results began
        self._damaged: set[str] = set()  # results some of whose writes were dropped
        # The descriptions of results dropped before their end, written again with their next events.
        self._descriptions: dict[str, tuple[dict[str, Any], float]] = {}
        self._stored: dict[str, list[Callable[[], None]]] = {}  # called once a result's end is stored (or dropped)
        self._task: asyncio.Task[None] | None = None  # a flush under way
        self.failing = False
        self.written = 0  # batches stored
        self.failures = 0  # flushes the store refused
        self.dropped = 0  # batches given up on

    def add(self, batch: Batch) -> None:
        """Queue a result's new events (and its description or end)."""
        pending = self._pending.get(batch.result_id)
        if pending is None:
            if batch.meta is None and batch.result_id in self._descriptions:
                batch.meta, batch.started_at = self._descriptions.pop(batch.result_id)
            self._pending[batch.result_id] = batch
        else:
            _merge(pending, batch)
        self._waiting += len(batch.events)
        self._schedule()

    def extend(self, result_id: str, events: list[StoredEvent], encoded: list[bytes]) -> None:
        """Queue a result's new events, nothing else (``add`` for the rest): a run's
        usual write, which joins the batch already waiting for it as it is."""
        pending = self._pending.get(result_id)
        if pending is None or len(pending.encoded) != len(pending.events):
            self.add(Batch(result_id, events=events, encoded=encoded))
            return
        pending.events.extend(events)
        pending.encoded.extend(encoded)
        self._waiting += len(events)
        if self._timer is None or self._waiting >= self.max_waiting:
            self._schedule()

    def damaged(self, result_id: str) -> bool:
        """Whether some of the result's writes were given up on."""
        return result_id in self._damaged

    def when_stored(self, result_id: str, done: Callable[[], None]) -> None:
        """Call ``done`` once ``result_id``'s end has been stored, or given up on."""
        self._stored.setdefault(result_id, []).append(done)

    def _schedule(self) -> None:
        """A flush for what waits, at its time; at once if too much waits (one under
        way is not hurried: the next is scheduled as it ends)."""
        if not self._pending or (self._task is not None and not self._task.done()):
            return
        if self._waiting >= self.max_waiting and not self.failing:
            if self._timer is not None:
                self._timer.cancel()
            self._start_flush()
        elif self._timer is None:
            delay = self.retry_interval if self.failing else self.interval
            self._timer = asyncio.get_running_loop().call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        self._task = asyncio.get_running_loop().create_task(self._flush_and_schedule())

    async def _flush_and_schedule(self) -> None:
        await self.flush()
        self._task = None
        self._schedule()

    async def flush(self) -> None:
        batches, self._pending = list(self._pending.values()), {}
        self._waiting = 0
        if not batches:
            return
        for batch in batches:
            batch.incomplete = batch.incomplete or batch.result_id in self._damaged
        try:
            lost = await self.store.save(batches)
        except StoreError as exc:
            self.failures += 1
            if not self.failing:
                self.failing = True
                log.warning("results could not be stored in %s (%s); live runs go on, and their writes are "
                            "tried again each second", self.store.name, exc)
            unsaved = set(exc.unsaved) if exc.unsaved is not None else None
            self._stored_now([b for b in batches if unsaved is not None and b.result_id not in unsaved])
            self._keep([b for b in batches if unsaved is None or b.result_id in unsaved])
            return
        if self.failing:
            self.failing = False
            log.warning("results are stored in %s again", self.store.name)
        for result_id in lost:
            self._write_again(result_id)
        self._stored_now([b for b in batches if b.result_id not in lost])

    def _stored_now(self, batches: list[Batch]) -> None:
        self.written += len(batches)
        for batch in batches:
            if batch.events:
                self.saved(batch.result_id, batch.events[-1][0])
            if batch.status is not None:
                self._ended(batch.result_id)

    def _write_again(self, result_id: str) -> None:
        """The store lost the result (redis restarted empty): it is written again whole,
        from the run's own memory, in place of what waits for it."""
        whole = self.rewrite(result_id)
        if whole is None:  # no longer held here: its end was stored before the loss
            return
        self._pending.pop(result_id, None)
        self.add(whole)

    def _keep(self, batches: list[Batch]) -> None:
        """Put refused batches back before anything added since, and drop what the backlog cannot hold."""
        newer, self._pending = self._pending, {b.result_id: b for b in batches}
        for batch in newer.values():
            self.add(batch)
        while len(self._pending) > self.max_backlog:
            oldest = next(iter(self._pending))
            dropped = self._pending.pop(oldest)
            self.dropped += 1
            if dropped.status is not None:
                self._ended(oldest)
            else:
                self._damaged.add(oldest)  # what it writes later says it is incomplete
                if dropped.meta is not None:
                    self._descriptions[oldest] = (dropped.meta, dropped.started_at)

    def _ended(self, result_id: str) -> None:
        self._damaged.discard(result_id)
        self._descriptions.pop(result_id, None)
        for done in self._stored.pop(result_id, []):
            done()

    async def close(self) -> None:
        """Write what is pending, once (the server is stopping: nothing waits for a failing store)."""
        await self._stop()
        self.failing = False
        await self.flush()
        await self._stop()  # a retry the failed flush scheduled: the store is closing

    async def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task])


def _merge(into: Batch, batch: Batch) -> None:
    if into.meta is None and batch.meta is not None:
        into.meta, into.started_at = batch.meta, batch.started_at
    into.encode()
    batch.encode()
    if batch.dropped:
        # Superseded before it was written: it is never written at all.
        gone = set(batch.dropped)
        waiting = {event[0] for event in into.events}
        kept = [(event, raw) for event, raw in zip(into.events, into.encoded, strict=True) if event[0] not in gone]
        into.events, into.encoded = [event for event, _ in kept], [raw for _, raw in kept]
        into.dropped.extend(number for number in batch.dropped if number not in waiting)
    into.events.extend(batch.events)
    into.encoded.extend(batch.encoded)
    into.cut = into.cut or batch.cut
    into.incomplete = into.incomplete or batch.incomplete
    if batch.status is not None:
        into.status, into.ended_at = batch.status, batch.ended_at
