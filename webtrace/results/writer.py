"""Writes to the store in batches, off the streaming path.

A run hands its events over with ``add`` (no waiting, no I/O); every
``interval`` seconds, the events of every run since the last flush go to the
store in one call. If the store fails, those events are lost to it: the
results they belong to are marked incomplete, one warning is logged (not one
per flush), and the next flush tries again; once one succeeds, a line says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from .store import Batch, Store, StoreError

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.1


class ResultWriter:
    def __init__(self, store: Store, interval: float = FLUSH_INTERVAL_S) -> None:
        self.store = store
        self.interval = interval
        self._pending: dict[str, Batch] = {}
        self._damaged: set[str] = set()  # results some of whose writes were lost
        self._lost_meta: dict[str, tuple[dict[str, Any], float]] = {}  # descriptions to write again
        self._flushed: dict[str, list[Callable[[], None]]] = {}  # called once a result's end is stored (or lost)
        self._task: asyncio.Task[None] | None = None
        self.failing = False
        self.written = 0  # batches stored
        self.failures = 0  # flushes that failed

    def add(self, batch: Batch) -> None:
        """Queue a result's new events (and its description or end)."""
        pending = self._pending.get(batch.result_id)
        if pending is None:
            self._pending[batch.result_id] = batch
        else:
            pending.events.extend(batch.events)
            pending.cut = pending.cut or batch.cut
            if batch.status is not None:
                pending.status, pending.ended_at = batch.status, batch.ended_at
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    def when_stored(self, result_id: str, done: Callable[[], None]) -> None:
        """Call ``done`` after the next flush that includes ``result_id``."""
        self._flushed.setdefault(result_id, []).append(done)

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.interval)
        await self.flush()

    async def flush(self) -> None:
        batches, self._pending = list(self._pending.values()), {}
        if not batches:
            return
        for batch in batches:
            batch.incomplete = batch.incomplete or batch.result_id in self._damaged
            if batch.meta is None and batch.result_id in self._lost_meta:
                batch.meta, batch.started_at = self._lost_meta[batch.result_id]
        try:
            await self.store.save(batches)
        except StoreError as exc:
            self.failures += 1
            self._damaged.update(b.result_id for b in batches)
            self._lost_meta.update((b.result_id, (b.meta, b.started_at)) for b in batches if b.meta is not None)
            if not self.failing:
                self.failing = True
                log.warning("results could not be stored in %s (%s); live runs go on, their results are "
                            "marked incomplete; trying again with each write", self.store.name, exc)
        else:
            self.written += len(batches)
            for batch in batches:
                self._lost_meta.pop(batch.result_id, None)
            if self.failing:
                self.failing = False
                log.warning("results are stored in %s again", self.store.name)
        finally:
            for batch in batches:
                if batch.status is not None:  # its last write: nothing more will come to mend
                    self._damaged.discard(batch.result_id)
                    self._lost_meta.pop(batch.result_id, None)
                    for done in self._flushed.pop(batch.result_id, []):
                        done()
        if self._pending and (self._task is None or self._task.done() or self._task is asyncio.current_task()):
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task])
        await self.flush()
