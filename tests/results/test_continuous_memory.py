"""A continuous run's recorder keeps its latest events only, once the store holds
the rest (design §13): readers and followers get the older ones from the store, so
the result is whole wherever it is read, and the server's memory stays flat."""

from __future__ import annotations

import asyncio
from pathlib import Path

from webtrace.events import Event
from webtrace.results.recorder import TAIL_EVENTS, Compaction, Recorder, Results
from webtrace.results.sqlite import SqliteStore
from webtrace.results.store import StoredEvent

from .test_continuous_size import _run

CYCLES = 80  # enough for the 30 rows and the cycles to pass twice the tail


def _results(path: Path) -> Results:
    return Results(SqliteStore(path, ttl=3600), max_bytes=2**21, node="here", run_timeout=30, continuous_max=600)


def _numbers(events: list[StoredEvent]) -> list[int]:
    return [number for number, _, _ in events]


async def _follow(results: Results, result_id: str, after: int = 0) -> list[StoredEvent]:
    return [event async for batch in results.follow(result_id, after) for event in batch]


async def test_a_continuous_recorder_lets_go_of_what_the_store_holds(tmp_path: Path) -> None:
    results = _results(tmp_path / "results.sqlite3")
    recorder = results.start({"tool": "mtr", "continuous": True}, compaction=Compaction(lines=False))
    assert recorder is not None and results.writer is not None
    held = []
    batches = _run(CYCLES)
    half = len(batches) // 2
    for batch in batches[:half]:
        recorder.record(batch)
        await results.writer.flush()  # the store keeps up, as its writer does every 0.1 s
        held.append(len(recorder.events))
    assert recorder.spilled > 0
    # At most twice the tail, plus a batch at most until the next one lets go.
    assert max(held) <= 2 * TAIL_EVENTS + max(map(len, batches))
    # Read while it runs: the store's older events and the recorder's latest, as one.
    mid = await results.read(recorder.id)
    assert _numbers(mid.events) == sorted(set(_numbers(mid.events)))
    assert [kind for _, kind, _ in mid.events].count("cycle") == CYCLES // 2 - 1  # cycle n is told as n + 1 begins
    # Followed from the start, and from a point the recorder no longer holds, until the end.
    afters = (0, recorder.spilled // 2)
    followers = [asyncio.create_task(_follow(results, recorder.id, after)) for after in afters]
    await asyncio.sleep(0)
    for batch in batches[half:]:
        recorder.record(batch)
        await results.writer.flush()
    whole = await asyncio.gather(*followers)
    await results.close()
    stored = await _results(tmp_path / "results.sqlite3").read(recorder.id)
    assert stored.status == "timeout" and not stored.incomplete
    cycles = [data["cycle"] for _, kind, data in stored.events if kind == "cycle"]
    assert cycles == list(range(1, CYCLES + 1))
    for events, after in zip(whole, afters, strict=True):
        numbers = _numbers(events)
        assert numbers == sorted(set(numbers)) and numbers[0] > after  # nothing twice, nothing before
        # Every cycle after where it began, and the end: a follower sees the whole run.
        told = [data["cycle"] for _, kind, data in events if kind == "cycle"]
        assert told == [c for number, kind, data in stored.events if kind == "cycle" and number > after
                        for c in [data["cycle"]]]
        assert events[-1][1] == "end"


async def test_a_store_that_lost_a_continuous_result_gets_what_is_held_and_says_it_is_incomplete(
        tmp_path: Path) -> None:
    results = _results(tmp_path / "results.sqlite3")
    recorder = results.start({"tool": "mtr", "continuous": True}, compaction=Compaction(lines=False))
    assert isinstance(recorder, Recorder) and results.writer is not None
    for batch in _run(CYCLES)[:-1]:
        recorder.record(batch)
        await results.writer.flush()
    whole = recorder.whole()
    assert whole.incomplete and whole.events == recorder.events and whole.meta is not None
    recorder.record([Event("end", {"status": "cancelled"})])
    await results.close()
