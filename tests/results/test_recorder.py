"""The recorder: a run's events kept as the visitor saw them, cut at the size limit,
ended once, followed live, and each event made once for all its followers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import orjson

from webtrace.events import Event, end_event, start_event
from webtrace.results.recorder import Results
from webtrace.results.store import Batch, MemoryStore
from webtrace.results.writer import FLUSH_INTERVAL_S, LOCAL_FLUSH_INTERVAL_S, ResultWriter

START = start_event(tool="ping", target="x", address="127.0.0.1", family="4", protocol="icmp", port=None, count=3,
                    command="ping 127.0.0.1", result=None)


def results(max_bytes: int = 10_000) -> Results:
    return Results(MemoryStore(ttl=60), max_bytes=max_bytes, node="lon1", run_timeout=30)


async def test_events_are_numbered_as_sent_and_the_end_ends_the_result() -> None:
    kept = results()
    recorder = kept.start(dict(START.data))
    assert recorder is not None
    raw = recorder.record([START, Event("line", {"text": "64 bytes"})])
    assert raw[1] == b'{"text":"64 bytes"}'  # encoded once, for the store and the sink alike
    recorder.record([end_event("ok", "done", duration_s=1.0, exit_code=0)])
    assert [(n, kind) for n, kind, _ in recorder.events] == [(1, "start"), (2, "line"), (3, "end")]
    assert recorder.ended and recorder.status == "ok"
    recorder.finish(end_event("cancelled", "left", duration_s=2.0).data)  # ended already: nothing more
    assert len(recorder.events) == 3
    figures = kept.figures()
    assert figures.recording == 1 and not figures.failing
    await kept.close()


async def test_a_result_past_its_size_is_cut_but_still_ends() -> None:
    kept = results(max_bytes=200)
    recorder = kept.start(dict(START.data))
    assert recorder is not None
    recorder.record([Event("line", {"text": "x" * 60}) for _ in range(10)])
    recorder.record([end_event("ok", "done", duration_s=1.0)])
    assert recorder.cut and recorder.events[-1][1] == "end" and len(recorder.events) < 11
    await kept.close()


async def test_followers_get_what_came_and_what_comes_and_share_each_frame() -> None:
    kept = results()
    recorder = kept.start(dict(START.data))
    assert recorder is not None
    recorder.record([START])

    async def follow() -> list[int]:
        return [n for batch in [b async for b in recorder.follow(0)] for n, _, _ in batch]

    followers = [asyncio.create_task(follow()) for _ in range(2)]
    await asyncio.sleep(0)
    recorder.record([end_event("ok", "done", duration_s=1.0)])
    assert await asyncio.gather(*followers) == [[1, 2], [1, 2]]
    made: list[int] = []

    def make() -> bytes:
        made.append(1)
        return b"frame"

    assert [kept.frame(recorder.id, 1, make) for _ in range(3)] == [b"frame"] * 3 and made == [1]
    await kept.close()


class SharedMemoryStore(MemoryStore):
    """As a redis store is: other servers follow what this one writes."""

    shared = True


async def test_a_shared_store_is_written_often_and_a_store_of_ours_in_fewer_larger_flushes() -> None:
    shared = Results(SharedMemoryStore(ttl=60), max_bytes=10_000, node="lon1", run_timeout=30)
    ours = results()
    assert shared.writer is not None and ours.writer is not None
    assert shared.writer.interval == FLUSH_INTERVAL_S  # the lag of a follower on another server
    assert ours.writer.interval == LOCAL_FLUSH_INTERVAL_S > FLUSH_INTERVAL_S
    await shared.close()
    await ours.close()


async def test_a_result_whose_writes_wait_is_read_whole_from_its_run() -> None:
    kept = results()
    assert kept.store is not None and kept.writer is not None
    recorder = kept.start(dict(START.data))
    assert recorder is not None
    recorder.record([START, Event("line", {"text": "64 bytes"}), end_event("ok", "done", duration_s=1.0, exit_code=0)])
    assert await kept.store.load(recorder.id) is None  # not written yet: its flush is to come
    read = await kept.read(recorder.id)
    assert [kind for _, kind, _ in read.events] == ["start", "line", "end"] and read.status == "ok"
    stored = asyncio.Event()
    kept.writer.when_stored(recorder.id, stored.set)
    await asyncio.wait_for(stored.wait(), 5)
    assert recorder.id not in kept.live  # read from the store from now on, whole
    read = await kept.read(recorder.id)
    assert [kind for _, kind, _ in read.events] == ["start", "line", "end"] and read.status == "ok"
    await kept.close()


async def test_a_burst_of_events_is_written_at_once_not_held_till_its_time() -> None:
    store = MemoryStore(ttl=60)
    writer = ResultWriter(store, 3600, max_waiting=10)  # its time would be an hour away
    now = time.time()
    writer.add(Batch("quiet", meta={"tool": "ping"}, started_at=now, events=[(1, "start", {})]))
    stored = asyncio.Event()
    writer.when_stored("burst", stored.set)
    writer.add(Batch("burst", meta={"tool": "ping"}, started_at=now,
                     events=[(n, "line", {"text": "x"}) for n in range(1, 10)]))
    assert await store.load("burst") is None  # nine waiting, and one: not yet
    writer.add(Batch("burst", events=[(10, "end", {"status": "ok"})], status="ok", ended_at=1.0))
    await asyncio.wait_for(stored.wait(), 5)
    burst, quiet = await store.load("burst"), await store.load("quiet")
    assert burst is not None and len(burst.events) == 10 and burst.status == "ok"
    assert quiet is not None and len(quiet.events) == 1  # what waited beside it went with it
    await writer.close()


class HeldStore(MemoryStore):
    """Its first write waits until released: a flush under way."""

    def __init__(self, ttl: float) -> None:
        super().__init__(ttl)
        self.writing = asyncio.Event()
        self.release = asyncio.Event()

    async def save(self, batches: Sequence[Batch]) -> Sequence[str]:
        if not self.writing.is_set():
            self.writing.set()
            await self.release.wait()
        return await super().save(batches)


async def test_a_burst_arriving_during_a_flush_is_written_as_soon_as_that_flush_ends() -> None:
    store = HeldStore(ttl=60)
    writer = ResultWriter(store, 3600, max_waiting=10)
    now = time.time()
    writer.add(Batch("first", meta={"tool": "ping"}, started_at=now, events=[(n, "line", {}) for n in range(1, 11)]))
    await asyncio.wait_for(store.writing.wait(), 5)
    stored = asyncio.Event()
    writer.when_stored("second", stored.set)
    writer.add(Batch("second", meta={"tool": "ping"}, started_at=now, status="ok", ended_at=now,
                     events=[(n, "line", {}) for n in range(1, 11)]))
    store.release.set()
    await asyncio.wait_for(stored.wait(), 5)  # not an hour later
    second = await store.load("second")
    assert second is not None and len(second.events) == 10
    await writer.close()


class SavedStore(MemoryStore):
    """Says when a flush has written something, and keeps the JSON it was given (a
    file's store writes that, not the events)."""

    def __init__(self, ttl: float) -> None:
        super().__init__(ttl)
        self.saved = asyncio.Event()
        self.json: list[tuple[int, str, bytes]] = []

    async def save(self, batches: Sequence[Batch]) -> Sequence[str]:
        self.json += [event for batch in batches for event in batch.encoded_events()]
        lost = await super().save(batches)
        self.saved.set()
        return lost


async def test_events_joining_the_batch_waiting_for_them_are_written_in_order_and_a_burst_at_once() -> None:
    store = SavedStore(ttl=60)
    writer = ResultWriter(store, 3600, max_waiting=10)  # its time would be an hour away
    # Added without its JSON (as a description is): the events that join it are still written as sent.
    writer.add(Batch("run", meta={"tool": "ping"}, started_at=time.time(), events=[(1, "start", {"tool": "ping"})]))
    for n in range(2, 10):
        writer.extend("run", [(n, "line", {"text": f"line {n}"})], [f'{{"text":"line {n}"}}'.encode()])
    assert not store.saved.is_set()  # nine waiting: not yet
    writer.extend("run", [(10, "line", {"text": "line 10"})], [b'{"text":"line 10"}'])
    await asyncio.wait_for(store.saved.wait(), 5)
    stored = await store.load("run")
    assert stored is not None
    lines = [(n, "line", {"text": f"line {n}"}) for n in range(2, 11)]
    assert stored.events == [(1, "start", {"tool": "ping"}), *lines]
    assert store.json == [(n, kind, orjson.dumps(data)) for n, kind, data in stored.events]
    await writer.close()


async def test_a_run_recorded_a_read_at_a_time_is_stored_as_its_visitor_saw_it() -> None:
    kept = results()
    assert kept.store is not None and kept.writer is not None
    recorder = kept.start(dict(START.data))
    assert recorder is not None
    sent = [[START], [Event("line", {"text": "64 bytes"}), Event("reply", {"seq": 1})], [Event("line", {"text": "x"})],
            [end_event("ok", "done", duration_s=1.0, exit_code=0)]]
    for events in sent:
        recorder.record(events)
    stored = asyncio.Event()
    kept.writer.when_stored(recorder.id, stored.set)
    await asyncio.wait_for(stored.wait(), 5)
    result = await kept.store.load(recorder.id)
    assert result is not None and result.status == "ok"
    assert result.events == [(n, kind, data) for n, (kind, data) in enumerate((e for b in sent for e in b), 1)]
    await kept.close()
