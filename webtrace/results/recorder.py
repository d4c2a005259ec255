"""Recording runs as results, and following them while they run.

``Results`` is the server's: the store, its writer, and the runs recording now.
A run gets a ``Recorder`` when it starts; the sink hands it every event just
before sending it, so a result holds exactly what the visitor saw, numbered as
the stream numbered it. Followers of a run on this server read its recorder's
events and wait for more; followers of a run elsewhere (a shared redis) ask
the store. A follower never touches the run: the run belongs to its visitor.

A continuous run lasts minutes, so its recorder keeps only its latest events
in memory (``TAIL_EVENTS`` to twice that): older ones, once the store holds
them, are read from the store by whoever needs them (a follower that joins or
falls behind, a reader of the whole result). Its memory stays flat however
long it runs.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from ..events import Event
from ..refusals import Refusal
from .records import Result, StoredEvent, new_result_id
from .store import Batch, Store, StoreError
from .writer import FLUSH_INTERVAL_S, LOCAL_FLUSH_INTERVAL_S, ResultWriter

log = logging.getLogger(__name__)

# Per stored event, beside its data: its id, its name, and the JSON around them.
EVENT_OVERHEAD = 32
# A follower of a run elsewhere asks a failing store again this often.
POLL_S = 0.25
# A run has ended this long after its limit (WEBTRACE_TIMEOUT), wherever it runs.
END_MARGIN_S = 60
# A continuous run's events kept in memory once stored: at least this many, at most twice.
TAIL_EVENTS = 32
INCOMPLETE = ("This result is incomplete: its run stopped before its end was stored "
              "(its server stopped, or the result store failed).")


class ResultNotFound(Refusal, LookupError):
    status = 404
    code = "result_not_found"


class ResultsUnavailable(Refusal):
    status = 503
    code = "results_unavailable"
    retry_after_s = 30


# An event a continuous run's result keeps only the latest of: (node, kind, hop).
Latest = tuple[str | None, str, int]


@dataclass(frozen=True, slots=True)
class Compaction:
    """What a continuous run's result keeps (design §13): what the page needs to draw
    it again. Every reply and every mtr ``cycle``, but only the latest row of each hop
    and the latest ``progress``: a row is sent again at every probe, and over ten
    minutes of a 30-hop path the rows alone would be megabytes."""

    lines: bool  # whether its tool's own lines are kept: ping's are its text; mtr's are probe records

    def key(self, kind: str, data: dict[str, Any]) -> Latest | None:
        """The latest-only key of an event (None: every one is kept)."""
        if kind == "hop":
            return data.get("node"), kind, int(data["hop"])
        if kind in ("progress", "trim"):
            return data.get("node"), kind, 0
        return None

    def skips(self, kind: str) -> bool:
        return kind == "line" and not self.lines


class Recorder:
    """One run's result while it runs: its events in memory, for the store and for followers."""

    def __init__(self, results: Results, writer: ResultWriter, result_id: str, meta: dict[str, Any],
                 started_at: float, final: str = "end", compaction: Compaction | None = None) -> None:
        self.results = results
        self.compaction = compaction
        self._latest: dict[Latest, tuple[int, int]] = {}  # key -> (number, size) of the one kept
        self.final = final  # the event that ends the result: "end", or "done" for a run from several nodes
        self.writer = writer
        self.id = result_id
        self.meta = meta
        self.started_at = started_at
        self.events: list[StoredEvent] = []  # all of them; a continuous run's: those past ``spilled``
        self.spilled = 0  # the events numbered up to this are read from the store (a continuous run's)
        self.saved = 0  # the store holds the events numbered up to this
        self.ended_at: float | None = None
        self.status: str | None = None
        self.cut = False
        # Each event as followers are sent it, made once for them all (``Results.frame``).
        self._frames: dict[int, bytes] = {}
        self._next = 1
        self._size = 0
        self._changed: asyncio.Future[None] | None = None

    @property
    def ended(self) -> bool:
        return self.status is not None

    def record(self, events: list[Event]) -> list[bytes]:
        """Keep the events a sink is about to send (no I/O: the writer stores them later).
        Returns each event's data as JSON, encoded once here for the store and for the
        sink alike."""
        everything = [orjson.dumps(data) for _, data in events]
        if self.status is not None:  # ended
            return everything
        if self.compaction is None and not self.cut and self._all_fit(events, everything):
            return everything
        kept: list[StoredEvent] = []
        encoded: list[bytes] = []
        dropped: list[int] = []
        cap = self.results.max_bytes
        compaction = self.compaction
        kept_from = self._next  # the first number of this batch
        for (kind, data), raw in zip(events, everything, strict=True):
            number, self._next = self._next, self._next + 1
            if kind == self.final:
                self.status, self.ended_at = str(data.get("status")), time.time()
            elif self.cut:
                continue
            else:
                size = len(raw) + EVENT_OVERHEAD
                if compaction is not None:
                    if compaction.skips(kind):
                        continue
                    if (key := compaction.key(kind, data)) is not None:
                        dropped += self._supersede(key, kind, data, number, size)
                self._size += size
                if self._size > cap:
                    self.cut = True  # the stream goes on; the result stops here, and says so
                    continue
            kept.append((number, kind, data))
            encoded.append(raw)
            if self.ended:
                break
        if dropped:
            gone = set(dropped)
            self.events = [event for event in self.events if event[0] not in gone]
            for number in dropped:
                self._frames.pop(number, None)  # made for followers of a row now superseded
            if any(event[0] in gone for event in kept):  # superseded within this very batch
                pairs = [(event, raw) for event, raw in zip(kept, encoded, strict=True) if event[0] not in gone]
                kept, encoded = [event for event, _ in pairs], [raw for _, raw in pairs]
                dropped = [number for number in dropped if number < kept_from]
        self.events.extend(kept)
        if compaction is not None and len(self.events) > 2 * TAIL_EVENTS:
            self._spill()
        self.writer.add(Batch(self.id, events=kept, encoded=encoded, cut=self.cut, status=self.status,
                              ended_at=self.ended_at, dropped=dropped))
        self._recorded()
        return everything

    def _all_fit(self, events: list[Event], encoded: list[bytes]) -> bool:
        """Keep a batch of a run kept whole (not continuous) that fits under the
        result's cap and holds no final event: every batch of a run but its last, and
        the usual case. Returns False, keeping nothing, for any other."""
        final = self.final
        for kind, _ in events:
            if kind == final:
                return False
        size = self._size + sum(map(len, encoded)) + EVENT_OVERHEAD * len(events)
        if size > self.results.max_bytes:
            return False
        self._size = size
        first = self._next
        self._next = first + len(events)
        kept: list[StoredEvent] = [(number, kind, data) for number, (kind, data) in enumerate(events, first)]
        self.events.extend(kept)
        self.writer.extend(self.id, kept, encoded)
        self._recorded()
        return True

    def _recorded(self) -> None:
        """Tell the followers waiting; once the run's end is kept, the results."""
        if self._changed is not None:
            self._changed.set_result(None)
            self._changed = None
        if self.status is not None:
            self.results._ended(self)

    def _supersede(self, key: Latest, kind: str, data: dict[str, Any], number: int, size: int) -> list[int]:
        """Keep ``number`` as the latest of ``key``; the numbers it supersedes (a
        ``trim``: the rows past the hops it leaves too)."""
        dropped: list[int] = []
        old = self._latest.get(key)
        if old is not None:
            dropped.append(old[0])
            self._size -= old[1]
        self._latest[key] = (number, size)
        if kind == "trim":
            node, hops = key[0], int(data["hops"])
            for past in [k for k in self._latest if k[0] == node and k[1] == "hop" and k[2] > hops]:
                gone, gone_size = self._latest.pop(past)
                dropped.append(gone)
                self._size -= gone_size
        return dropped

    def _spill(self) -> None:
        """Let go of the older events the store holds, keeping the latest ``TAIL_EVENTS``."""
        through = min(self.saved, self.events[-TAIL_EVENTS][0] - 1)
        position = _index_after(self.events, through)
        if position == 0:
            return  # the store is behind (or failing): they wait here till it holds them
        for number, _, _ in self.events[:position]:
            self._frames.pop(number, None)
        del self.events[:position]
        self.spilled = max(self.spilled, through)

    def finish(self, end: dict[str, Any]) -> None:
        """Record the run's end (or ``done``) if the stream could not send it (its visitor left)."""
        if not self.ended:
            self.record([Event(self.final, end)])  # type: ignore[arg-type]  # "end" or "done"

    def frame(self, number: int, make: Callable[[], bytes]) -> bytes:
        """Event ``number`` as its followers are sent it, made once for them all."""
        if number <= self.spilled:
            return make()  # an older event, for a follower that joined late: not kept
        frame = self._frames.get(number)
        if frame is None:
            frame = self._frames[number] = make()
        return frame

    def whole(self) -> Batch:
        """Everything recorded so far, as one batch: for a store that lost the result. A
        continuous run's older events were only in that store: the result says it is incomplete."""
        return Batch(self.id, meta=self.meta, started_at=self.started_at, events=list(self.events), cut=self.cut,
                     status=self.status, ended_at=self.ended_at, incomplete=self.spilled > 0)

    async def snapshot(self) -> Result:
        events: list[StoredEvent] = []
        after = 0
        while after < self.spilled:  # again if more was let go of while the store was read
            through = self.spilled
            events += await self.results.stored(self.id, after, through)
            after = through
        events += self.events[_index_after(self.events, after):]
        return Result(self.id, self.meta, self.started_at, self.ended_at, self.status, self.cut,
                      self.writer.damaged(self.id), events)

    async def follow(self, after: int) -> AsyncIterator[list[StoredEvent]]:
        """Every event with an id above ``after``, then each new one as it comes, until the end.
        Followed by id, not by place: a continuous run's superseded rows leave the list, and
        its older events, the store's alone, are read from there."""
        while True:
            if after < self.spilled:
                through = self.spilled
                older = await self.results.stored(self.id, after, through)
                if older:
                    yield older
                after = through
                continue
            position = _index_after(self.events, after)
            if position < len(self.events):
                batch = self.events[position:]
                after = batch[-1][0]
                yield batch
            if self.ended:
                return
            if self._changed is None:
                self._changed = asyncio.get_running_loop().create_future()
            # Not awaited directly: a follower that leaves must not cancel the others' wait.
            await asyncio.wait([self._changed])


def _flush_interval(store: Store) -> float:
    """How often the writer writes to ``store``. A shared store's followers, on other
    servers, read what is written there: their lag is this interval. A store of this
    server's alone is read live from its recorders until a result's end is stored, so
    only the cost counts: fewer, larger flushes (benchmarks/README.md, "A result
    written in half the flushes")."""
    return FLUSH_INTERVAL_S if store.shared else LOCAL_FLUSH_INTERVAL_S


def _incomplete(after: int) -> StoredEvent:
    return (after + 1, "incomplete", {"message": INCOMPLETE})


def _index_after(events: list[StoredEvent], after: int) -> int:
    return bisect.bisect_right(events, after, key=lambda event: event[0])


class Figures(NamedTuple):
    """The results' counters, as the metrics show them."""

    written: int  # result writes stored (one per result per flush)
    write_failures: int  # flushes the store refused
    expired: int  # results removed after their time
    recording: int  # runs being recorded now
    followers: int  # followers of results now
    failing: bool  # whether the store refuses writes or reads now


class Results:
    """The server's results: where they are stored, and the runs recording now."""

    def __init__(self, store: Store | None, *, max_bytes: int, node: str, run_timeout: float,
                 continuous_max: float = 0.0) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.node = node
        self.run_timeout = run_timeout
        self.continuous_max = continuous_max
        self.writer = (ResultWriter(store, _flush_interval(store), rewrite=self._whole, saved=self._saved)
                       if store is not None else None)
        self.live: dict[str, Recorder] = {}
        self.followers = 0
        self.expired = 0
        self._read_failing = False

    @property
    def failing(self) -> bool:
        """Whether the store refuses writes or reads now."""
        return self._read_failing or (self.writer is not None and self.writer.failing)

    @property
    def keeping(self) -> bool:
        """Whether a run begun now gets a result: results are on, and the store is not failing."""
        return self.writer is not None and not self.writer.failing

    def start(self, start: dict[str, Any], final: str = "end", compaction: Compaction | None = None
              ) -> Recorder | None:
        """A recorder for a run whose ``start`` event says this (for a run from several
        nodes: what they were all asked, and ``final`` "done"); None when results are off,
        or the store is failing now (the visitor gets ``result: null``). ``compaction``:
        a continuous run's, which keeps the latest of some events only."""
        writer = self.writer
        if writer is None or not self.keeping:
            return None
        result_id = new_result_id()
        meta = {**start, "node": self.node}
        recorder = Recorder(self, writer, result_id, meta, time.time(), final, compaction)
        self.live[result_id] = recorder
        writer.add(Batch(result_id, meta=meta, started_at=recorder.started_at))
        return recorder

    def figures(self) -> Figures:
        writer = self.writer
        return Figures(writer.written if writer else 0, writer.failures if writer else 0, self.expired,
                       len(self.live), self.followers, self.failing)

    def frame(self, result_id: str, number: int, make: Callable[[], bytes]) -> bytes:
        """Event ``number`` of a result as followers are sent it (``make`` makes it): made
        once for all the followers of a run recording here."""
        recorder = self.live.get(result_id)
        if recorder is None:
            return make()
        return recorder.frame(number, make)

    def _whole(self, result_id: str) -> Batch | None:
        recorder = self.live.get(result_id)
        return recorder.whole() if recorder is not None else None

    def _saved(self, result_id: str, number: int) -> None:
        recorder = self.live.get(result_id)
        if recorder is not None:
            recorder.saved = max(recorder.saved, number)

    async def stored(self, result_id: str, after: int, through: int) -> list[StoredEvent]:
        """A running result's events numbered above ``after`` up to ``through``, from the
        store (a continuous run's older ones). A store that fails or lost the result
        leaves a gap, and says so once in the log: the run and its followers go on."""
        assert self.store is not None
        try:
            result = await self.store.load(result_id)
        except StoreError as exc:
            self._warn_read(exc)
            return []
        if result is None:
            return []
        return [event for event in result.events if after < event[0] <= through]

    def _ended(self, recorder: Recorder) -> None:
        # Kept live until its end is stored (or lost), so no reader finds it in neither place.
        def forget() -> None:
            self.live.pop(recorder.id, None)

        recorder.writer.when_stored(recorder.id, forget)

    async def read(self, result_id: str) -> Result:
        recorder = self.live.get(result_id)
        if recorder is not None:
            return await recorder.snapshot()
        result = await self._load(result_id)
        if result.status is None and self._never_ends(result):
            result.incomplete = True  # its server stopped, or its store failed, before its end was written
        return result

    def _never_ends(self, result: Result) -> bool:
        """Whether a result with no end, not recording here, can still get one: in a
        store of this server's alone, never; in a shared one, while its run may last."""
        assert self.store is not None
        return not self.store.shared or time.time() > self._deadline(result)

    def _deadline(self, result: Result) -> float:
        """When a run that began with ``result`` has ended, wherever it runs (Unix time)."""
        most = self.continuous_max if result.meta.get("continuous") else self.run_timeout
        return result.started_at + max(most, self.run_timeout) + END_MARGIN_S

    async def _load(self, result_id: str) -> Result:
        if self.store is None:
            raise ResultNotFound("results are not kept on this server")
        try:
            result = await self.store.load(result_id)
        except StoreError as exc:
            self._warn_read(exc)
            raise ResultsUnavailable("results cannot be read right now; try again later") from None
        if self._read_failing:
            self._read_failing = False
            log.warning("results can be read from %s again", self.store.name)
        if result is None:
            raise ResultNotFound("there is no such result here: it may have expired, or the link is wrong")
        return result

    def _warn_read(self, exc: StoreError) -> None:
        if not self._read_failing:
            self._read_failing = True
            log.warning("results could not be read from %s (%s)", self.store.name if self.store else "-", exc)

    async def follow(self, result_id: str, after: int) -> AsyncGenerator[list[StoredEvent], None]:
        """The result's events after ``after``, then live until its end. Raises
        ResultNotFound before yielding anything if there is no such result. A result
        that will never end is followed to what is stored, then an ``incomplete``
        event says so."""
        recorder = self.live.get(result_id)
        stored = await self._load(result_id) if recorder is None else None  # refuses an unknown id first
        self.followers += 1
        try:
            if recorder is not None:
                async for batch in recorder.follow(after):
                    yield batch
                return
            assert stored is not None
            if stored.status is not None or self._never_ends(stored):
                fresh = stored.events[_index_after(stored.events, after):]
                if fresh:
                    yield fresh
                    after = fresh[-1][0]
                if stored.status is None:
                    yield [_incomplete(after)]
                return
            async for batch in self._follow_shared(stored, after):
                yield batch
        finally:
            self.followers -= 1

    async def _follow_shared(self, result: Result, after: int) -> AsyncIterator[list[StoredEvent]]:
        """A result recording on another server, through the shared store, until its end
        or until its run must have ended; through a store that fails for a while too."""
        assert self.store is not None
        deadline = self._deadline(result)
        while time.time() < deadline:
            try:
                async for batch, ended in self.store.follow(result.id, after, deadline):
                    if batch:
                        after = batch[-1][0]
                        yield batch
                    if ended:
                        return
            except StoreError as exc:
                self._warn_read(exc)
                await asyncio.sleep(POLL_S)
        yield [_incomplete(after)]

    async def expire(self) -> None:
        """Remove the results past their time (called every few minutes)."""
        if self.store is None:
            return
        try:
            self.expired += await self.store.expire()
        except StoreError as exc:
            log.warning("expired results could not be removed from %s (%s)", self.store.name, exc)

    async def close(self) -> None:
        if self.writer is not None:
            await self.writer.close()
        if self.store is not None:
            await self.store.close()
