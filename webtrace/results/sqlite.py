"""Results in an SQLite file (``sqlite:///PATH``, the default): stdlib ``sqlite3``
in WAL mode, on a thread of its own so the event loop never waits on the disk.

Every call opens nothing new: one connection, used by that one thread only.
Whatever SQLite or the file system says goes wrong (a full disk, a read-only
file, a lock held too long, a corrupt file) is a ``StoreError``; the next call
tries again, so storing resumes by itself when the cause is gone.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import orjson

from .records import Result, StoredEvent
from .store import Batch, StoreError, follow_once

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id TEXT PRIMARY KEY,
    meta TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    status TEXT,
    cut INTEGER NOT NULL DEFAULT 0,
    incomplete INTEGER NOT NULL DEFAULT 0,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS results_expiry ON results (expires_at);
CREATE TABLE IF NOT EXISTS events (
    result_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (result_id, seq)
) WITHOUT ROWID;
"""
# A file as found on disk: device, inode, size, time of last change.
FileIdentity = tuple[int, int, int, int]
# Events written in one transaction at the most, when a flush did not go through whole.
EVENTS_PER_TRANSACTION = 200
EVENTS_IN_ONE_GO = 0  # all of them, in the flush's own transaction
# Seconds between checkpoints of the WAL into the file, at the least.
CHECKPOINT_EVERY_S = 1.0
# A lock held longer than this (another process writing) is a failed write, not a stalled store.
BUSY_TIMEOUT_MS = 1000


class SqliteStore:
    shared = False  # one server's file

    def __init__(self, path: Path, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.name = f"sqlite:///{path}".replace("////", "///")
        self.ttl = ttl
        self._clock = clock
        self._db: sqlite3.Connection | None = None
        self._identity: FileIdentity | None = None  # the file as this store last left it
        self._checkpointed = -CHECKPOINT_EVERY_S  # monotonic time of the last checkpoint
        self._closed = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webtrace-results")

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            try:
                done = work(self._connection())
                self._identity = _identity(self.path)  # as this call left it
                return done
            except StoreError:
                self._forget()
                raise
            except (sqlite3.Error, OSError) as exc:
                self._forget()  # a file replaced or repaired is opened afresh next time
                raise StoreError(f"{exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._thread, run)

    def _connection(self) -> sqlite3.Connection:
        if self._db is not None and self._identity != _identity(self.path):
            # Moved away, replaced or written to by something else since this store's last
            # call: what the path names now is the store, read afresh (SQLite's cache of the
            # old file would hide a file overwritten, until its next checkpoint broke it).
            self._forget()
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at each checkpoint, never corrupt
                db.executescript(SCHEMA)
            except BaseException:
                db.close()
                raise
            self._db, self._identity = db, _identity(self.path)
        return self._db

    def _forget(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    async def save(self, batches: Sequence[Batch]) -> Sequence[str]:
        def write(db: sqlite3.Connection) -> Sequence[str]:
            try:
                with db:  # the whole flush in one transaction, as long as it goes through
                    db.execute("BEGIN")
                    for b in batches:
                        self._write_batch(db, b, EVENTS_IN_ONE_GO)
            except (sqlite3.Error, OSError):
                self._write_each(db, batches)
            self._checkpoint(db, settled=all(b.status is not None for b in batches))
            return ()

        return await self._call(write)

    def _write_each(self, db: sqlite3.Connection, batches: Sequence[Batch]) -> None:
        """A flush that failed whole, again a transaction per result and per
        EVENTS_PER_TRANSACTION of its events: one result that cannot be written (a disk
        full again) holds up no other, and what waited through an outage needs no more
        room at once than a small part of it."""
        unsaved: list[str] = []
        failure: BaseException | None = None
        for b in batches:
            try:
                self._write_batch(db, b, EVENTS_PER_TRANSACTION)
            except (sqlite3.Error, OSError) as exc:
                unsaved.append(b.result_id)
                failure = exc
        if failure is not None:
            raise StoreError(f"{failure}", unsaved) from failure

    def _checkpoint(self, db: sqlite3.Connection, settled: bool) -> None:
        """The WAL into the file itself, and emptied: after a flush that ended every run
        it wrote (``settled``), else once a second at the most. A file moved or copied
        away then holds what was written (SQLite writes nothing more into a file that
        was moved, and a WAL left behind would be read into the next file at that path),
        and a busy server checkpoints no more often than it did."""
        now = time.monotonic()
        if not settled and now - self._checkpointed < CHECKPOINT_EVERY_S:
            return
        self._checkpointed = now
        with suppress(sqlite3.Error):  # not now (a disk full): what was committed is in the WAL
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _write_batch(self, db: sqlite3.Connection, b: Batch, per_transaction: int) -> None:
        """One result's batch; its events committed ``per_transaction`` at a time, or
        all within the transaction already open (``EVENTS_IN_ONE_GO``)."""
        events = b.encoded_events()
        size = per_transaction or max(len(events), 1)
        chunks = [events[i:i + size] for i in range(0, len(events), size)] or [[]]
        for number, chunk in enumerate(chunks):
            with _transaction(db, per_transaction != EVENTS_IN_ONE_GO):
                if number == 0 and b.meta is not None:
                    db.execute(
                        "INSERT OR IGNORE INTO results (id, meta, started_at, expires_at) VALUES (?, ?, ?, ?)",
                        (b.result_id, orjson.dumps(b.meta), b.started_at, b.started_at + self.ttl))
                if number == 0 and b.dropped:
                    db.executemany("DELETE FROM events WHERE result_id = ? AND seq = ?",
                                   [(b.result_id, seq) for seq in b.dropped])
                if chunk:
                    db.executemany("INSERT OR IGNORE INTO events (result_id, seq, kind, data) VALUES (?, ?, ?, ?)",
                                   [(b.result_id, i, kind, raw) for i, kind, raw in chunk])
                if number == len(chunks) - 1:
                    if b.cut or b.incomplete:
                        db.execute("UPDATE results SET cut = cut OR ?, incomplete = incomplete OR ? WHERE id = ?",
                                   (b.cut, b.incomplete, b.result_id))
                    if b.status is not None:
                        db.execute("UPDATE results SET status = ?, ended_at = ? WHERE id = ?",
                                   (b.status, b.ended_at, b.result_id))

    async def load(self, result_id: str) -> Result | None:
        now = self._clock()

        def read(db: sqlite3.Connection) -> Result | None:
            row = db.execute(
                "SELECT meta, started_at, ended_at, status, cut, incomplete FROM results"
                " WHERE id = ? AND expires_at > ?", (result_id, now)).fetchone()
            if row is None:
                return None
            meta, started_at, ended_at, status, cut, incomplete = row
            events = _events(db, result_id, 0)
            return Result(result_id, orjson.loads(meta), started_at, ended_at, status, bool(cut), bool(incomplete),
                          events)

        return await self._call(read)

    def follow(self, result_id: str, after: int, until: float) -> AsyncIterator[tuple[list[StoredEvent], bool]]:
        return follow_once(self, result_id, after)

    async def expire(self) -> int:
        now = self._clock()

        def delete(db: sqlite3.Connection) -> int:
            with db:
                db.execute("BEGIN")
                db.execute("DELETE FROM events WHERE result_id IN (SELECT id FROM results WHERE expires_at <= ?)",
                           (now,))
                return db.execute("DELETE FROM results WHERE expires_at <= ?", (now,)).rowcount

        return await self._call(delete)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._thread, self._forget)
        self._thread.shutdown(wait=True)


@contextmanager
def _transaction(db: sqlite3.Connection, own: bool) -> Iterator[None]:
    """A transaction of its own (``own``), or nothing: the one already open holds it."""
    if not own:
        yield
        return
    with db:
        db.execute("BEGIN")
        yield


def _identity(path: Path) -> FileIdentity | None:
    """Which file the path names, and as it is: device, inode, size, time of last change."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns


def _events(db: sqlite3.Connection, result_id: str, after: int) -> list[StoredEvent]:
    rows = db.execute("SELECT seq, kind, data FROM events WHERE result_id = ? AND seq > ? ORDER BY seq",
                      (result_id, after)).fetchall()
    return [(seq, kind, _loads(data)) for seq, kind, data in rows]


def _loads(data: bytes) -> Any:
    return orjson.loads(data)
