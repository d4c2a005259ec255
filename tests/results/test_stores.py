"""The stores: what is saved is what is loaded, until it expires; in memory and in a real SQLite file."""

from __future__ import annotations

import logging
import time
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from webtrace.results.backends import default_path, open_store
from webtrace.results.records import is_result_id, new_result_id
from webtrace.results.sqlite import SqliteStore
from webtrace.results.store import Batch, MemoryStore, Store, StoreError
from webtrace.results.writer import ResultWriter

META = {"tool": "ping", "target": "example.net", "address": "192.0.2.1", "family": "4", "protocol": "icmp",
        "port": None, "count": 3, "command": "ping -n 192.0.2.1", "node": "lg1"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Store, Clock]]:
    clock = Clock()
    made: Store = (MemoryStore(60, clock) if request.param == "memory"
                   else SqliteStore(tmp_path / "r.sqlite3", 60, clock))
    yield made, clock
    await made.close()


def test_ids_are_128_random_bits_url_safe() -> None:
    ids = {new_result_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(is_result_id(i) and len(i) == 22 for i in ids)
    assert not is_result_id("../etc/passwd") and not is_result_id("x" * 21)


async def test_saved_in_batches_loaded_whole(store: tuple[Store, Clock]) -> None:
    s, clock = store
    await s.save([Batch("a" * 22, meta=META, started_at=clock.now, events=[(1, "start", {"tool": "ping"})])])
    await s.save([Batch("a" * 22, events=[(2, "line", {"text": "x"}), (3, "reply", {"seq": 1})])])
    running = await s.load("a" * 22)
    assert running is not None and running.status is None and [e[0] for e in running.events] == [1, 2, 3]
    assert [x async for x in s.follow("a" * 22, 2, clock.now + 60)] == [([(3, "reply", {"seq": 1})], False)]
    await s.save([Batch("a" * 22, events=[(4, "end", {"status": "ok"})], status="ok", ended_at=clock.now + 5,
                        cut=True)])
    done = await s.load("a" * 22)
    assert done is not None and done.status == "ok" and done.cut and not done.incomplete
    assert done.as_json()["started_at"] == "1970-01-12T13:46:40.000Z" and done.meta == META
    assert [x async for x in s.follow("a" * 22, 4, clock.now + 60)] == [([], True)]
    assert await s.load("b" * 22) is None and [x async for x in s.follow("b" * 22, 0, clock.now + 60)] == []


async def test_a_flush_of_many_results_writes_each_as_its_batches_say(store: tuple[Store, Clock]) -> None:
    s, clock = store
    a, b, c = "a" * 22, "b" * 22, "c" * 22
    line = [(n, "line", {"text": f"{n}"}) for n in range(5)]
    await s.save([Batch(a, meta=META, started_at=clock.now, events=line[1:3]),
                  Batch(b, meta=META, started_at=clock.now, events=line[1:2]),
                  Batch(c, events=line[1:2])])  # its description was never stored: nothing to add to
    await s.save([Batch(a, events=line[3:4], dropped=[2]),  # a continuous run's row superseded
                  Batch(b, events=line[2:3], cut=True, status="ok", ended_at=clock.now + 1),
                  Batch(c, events=line[2:3])])
    await s.save([Batch(a, events=line[4:5], incomplete=True, status="limit", ended_at=clock.now + 2)])
    first, second = await s.load(a), await s.load(b)
    assert first is not None and [e[0] for e in first.events] == [1, 3, 4]
    assert (first.status, first.cut, first.incomplete) == ("limit", False, True)
    assert second is not None and [e[0] for e in second.events] == [1, 2]
    assert (second.status, second.cut, second.incomplete) == ("ok", True, False)
    assert await s.load(c) is None


async def test_a_result_is_gone_after_its_ttl(store: tuple[Store, Clock]) -> None:
    s, clock = store
    await s.save([Batch("a" * 22, meta=META, started_at=clock.now, events=[(1, "start", {})])])
    clock.now += 59
    assert await s.load("a" * 22) is not None
    clock.now += 2
    assert await s.load("a" * 22) is None  # expired, even before the sweep
    assert await s.expire() == 1
    assert await s.expire() == 0


def test_the_default_file_is_in_the_state_directory() -> None:
    assert default_path({"STATE_DIRECTORY": "/var/lib/webtrace:/other"}) == Path("/var/lib/webtrace/results.sqlite3")
    assert default_path({"XDG_STATE_HOME": "/home/u/.state"}) == Path("/home/u/.state/webtrace/results.sqlite3")
    assert open_store("off", 60) is None
    assert isinstance(open_store("memory://", 60), MemoryStore)
    made = open_store("", 60, {"XDG_STATE_HOME": "/tmp/x"})
    assert isinstance(made, SqliteStore) and made.path == Path("/tmp/x/webtrace/results.sqlite3")


async def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "r.sqlite3", 60)
    await s.save([Batch("a" * 22, meta=META, started_at=time.time())])
    await s.close()
    with sqlite3.connect(tmp_path / "r.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_result_and_its_events_are_stored_as_json_blobs(tmp_path: Path) -> None:
    # As bytes were before they were bound as a bytearray (which Python's sqlite3 binds
    # without looking for an adapter): files written before and after read alike.
    s = SqliteStore(tmp_path / "r.sqlite3", 60)
    await s.save([Batch("a" * 22, meta=META, started_at=time.time(), events=[(1, "line", {"text": "PING"})],
                        status="ok", ended_at=time.time())])
    await s.close()
    with sqlite3.connect(tmp_path / "r.sqlite3") as db:
        assert db.execute("SELECT typeof(meta) FROM results").fetchall() == [("blob",)]
        assert db.execute("SELECT typeof(data), data FROM result_events").fetchall() == [("blob", b'{"text":"PING"}')]
    reopened = SqliteStore(tmp_path / "r.sqlite3", 60)
    result = await reopened.load("a" * 22)
    await reopened.close()
    assert result is not None and result.events == [(1, "line", {"text": "PING"})] and result.meta == META


# The layout files were written in before results were numbered: events keyed by the result's id.
EARLIER_LAYOUT = """
CREATE TABLE results (id TEXT PRIMARY KEY, meta TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL,
    status TEXT, cut INTEGER NOT NULL DEFAULT 0, incomplete INTEGER NOT NULL DEFAULT 0, expires_at REAL NOT NULL);
CREATE INDEX results_expiry ON results (expires_at);
CREATE TABLE events (result_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (result_id, seq)) WITHOUT ROWID;
"""


async def test_a_file_of_the_earlier_layout_is_read_and_written_on(tmp_path: Path) -> None:
    path, now = tmp_path / "r.sqlite3", time.time()
    with sqlite3.connect(path) as db:
        db.executescript(EARLIER_LAYOUT)
        for n, rid in enumerate(("b" * 22, "a" * 22)):  # "a" began later
            db.execute("INSERT INTO results VALUES (?, ?, ?, ?, 'ok', 0, 1, ?)",
                       (rid, '{"tool": "ping"}', now + n, now + n + 5, now + 60))
            db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)",
                           [(rid, seq, "line", f'{{"text": "{rid[0]}{seq}"}}'.encode()) for seq in (1, 2)])
    s = SqliteStore(path, 60)
    await s.save([Batch("c" * 22, meta=META, started_at=now + 2, events=[(1, "start", {"tool": "ping"})])])
    for rid in ("a", "b"):
        kept = await s.load(rid * 22)
        assert kept is not None and kept.status == "ok" and kept.incomplete and kept.meta == {"tool": "ping"}
        assert kept.events == [(1, "line", {"text": f"{rid}1"}), (2, "line", {"text": f"{rid}2"})]
    later = await s.load("c" * 22)
    assert later is not None and later.events == [(1, "start", {"tool": "ping"})]
    await s.close()
    with sqlite3.connect(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"results", "result_events"}
        # Numbered in the order they began, whatever order their ids sort in.
        assert db.execute("SELECT id FROM results ORDER BY n").fetchall() == [("b" * 22,), ("a" * 22,), ("c" * 22,)]


async def test_a_vacuumed_file_keeps_each_result_with_its_events(tmp_path: Path) -> None:
    path, now = tmp_path / "r.sqlite3", time.time()
    s = SqliteStore(path, 60)
    for n in range(5):
        await s.save([Batch(f"{n}" * 22, meta=META, started_at=now, events=[(1, "line", {"text": f"{n}"})])])
    await s.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DELETE FROM results WHERE id = ?", ("1" * 22,))  # a gap, which VACUUM may close
    db.execute("VACUUM")
    db.close()
    s = SqliteStore(path, 60)
    for n in (0, 2, 3, 4):
        kept = await s.load(f"{n}" * 22)
        assert kept is not None and kept.events == [(1, "line", {"text": f"{n}"})]
    await s.close()


async def test_a_corrupt_file_fails_each_write_and_nothing_is_lost_once_it_is_moved_away(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "r.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    s = SqliteStore(path, 60)
    writer = ResultWriter(s, interval=0.01)
    now = time.time()
    with caplog.at_level(logging.WARNING, logger="webtrace.results.writer"):
        for n in range(3):
            writer.add(Batch(f"{n}" * 22, meta=META, started_at=now, events=[(1, "start", {})]))
            await writer.flush()
        assert writer.failing and writer.failures == 3
        path.unlink()  # the operator moves the broken file away
        await writer.flush()  # the backlog, tried again
    assert not writer.failing
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        f"results could not be stored in {s.name}", f"results are stored in {s.name} again"]
    for n in range(3):
        stored = await s.load(f"{n}" * 22)
        assert stored is not None and stored.events == [(1, "start", {})] and not stored.incomplete
    await s.close()


async def test_what_the_backlog_cannot_hold_is_dropped_and_its_result_marked_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    s = SqliteStore(path, 60)
    writer = ResultWriter(s, interval=0.01, max_backlog=2)
    ended: list[str] = []
    now = time.time()
    path.mkdir()  # the file cannot be opened: every write fails
    for name in "abc":
        writer.add(Batch(name * 22, meta=META, started_at=now, events=[(1, "start", {})]))
        writer.when_stored(name * 22, lambda name=name: ended.append(name))  # type: ignore[misc]
        await writer.flush()
    assert writer.dropped == 1  # a's first batch
    path.rmdir()
    writer.add(Batch("a" * 22, events=[(2, "end", {"status": "ok"})], status="ok", ended_at=now + 1))
    await writer.flush()
    a = await s.load("a" * 22)
    assert a is not None and a.incomplete and a.status == "ok" and [e[0] for e in a.events] == [2]
    b = await s.load("b" * 22)
    assert b is not None and not b.incomplete and [e[0] for e in b.events] == [1]
    assert ended == ["a"]
    await s.close()


async def test_a_store_error_names_the_cause(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite3").mkdir()
    s = SqliteStore(tmp_path / "dir.sqlite3", 60)
    with pytest.raises(StoreError):
        await s.load("a" * 22)
    await s.close()
