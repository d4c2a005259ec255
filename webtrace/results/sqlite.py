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
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

import orjson

from .records import Result, StoredEvent
from .store import Batch, StoreError, follow_once

T = TypeVar("T")

# A result's events are keyed by its number, not its id. Numbers are given in the
# order results begin, so the runs live at any moment hold the last pages of
# ``result_events``, and a flush writes those few. Keyed by the random id (as files
# written before were, in ``events``), a flush wrote a page wherever each live run's
# events fell in the whole file: in a file of 50000 results, ten times the bytes and
# nearly twice the CPU (benchmarks/README.md, "Where a result's rows go"). The number
# is an INTEGER PRIMARY KEY, which VACUUM keeps as it is.
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS results (
        n INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        meta TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        status TEXT,
        cut INTEGER NOT NULL DEFAULT 0,
        incomplete INTEGER NOT NULL DEFAULT 0,
        expires_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS results_expiry ON results (expires_at)",
    """CREATE TABLE IF NOT EXISTS result_events (
        result INTEGER NOT NULL,  -- results.n
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (result, seq)
    ) WITHOUT ROWID""",
)
# What a file written before held its events in (by result id); opening it moves them.
OLD_EVENTS = "events"
# A file as found on disk: device, inode, size, time of last change.
FileIdentity = tuple[int, int, int, int]
# Events written in one transaction at the most, when a flush did not go through whole.
EVENTS_PER_TRANSACTION = 200
# Seconds between checkpoints of the WAL into the file, at the least.
CHECKPOINT_EVERY_S = 1.0
# A lock held longer than this (another process writing) is a failed write, not a stalled store.
BUSY_TIMEOUT_MS = 1000
# Results whose numbers are remembered between flushes, at the most (those still running).
KNOWN_NUMBERS = 10_000
# The rows a batch writes, the same whether a flush goes in one transaction or a result at a time.
DROP_EVENT = "DELETE FROM result_events WHERE result = ? AND seq = ?"
# JSON is bound as a bytearray, not bytes, though both are stored as the same blob: Python's
# sqlite3 binds a bytearray as it is, but looks for an adapter for bytes, and each failed
# look-up formats an AttributeError, a quarter of a row's cost (benchmarks/README.md,
# "Instructions a run costs").
ADD_EVENT = "INSERT OR IGNORE INTO result_events (result, seq, kind, data) VALUES (?, ?, ?, ?)"
MARK = "UPDATE results SET cut = cut OR ?, incomplete = incomplete OR ? WHERE n = ?"
END = "UPDATE results SET status = ?, ended_at = ? WHERE n = ?"


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
        # The numbers of results still running, as their first flush found them: the store's
        # thread alone reads and writes this, and forgets it with the file.
        self._known: dict[str, int] = {}
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
                _create(db)
            except BaseException:
                db.close()
                raise
            self._db, self._identity = db, _identity(self.path)
        return self._db

    def _forget(self) -> None:
        self._known.clear()
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
                    numbers = self._write_all(db, batches)
                self._remember(numbers, batches)
            except (sqlite3.Error, OSError):
                self._write_each(db, batches)
            self._checkpoint(db, settled=all(b.status is not None for b in batches))
            return ()

        return await self._call(write)

    def _write_all(self, db: sqlite3.Connection, batches: Sequence[Batch]) -> dict[str, int]:
        """Every batch of a flush, in the transaction open: a statement for each kind of
        row, over all the results at once (a statement a result cost a quarter of the
        store's CPU). Returns the results' numbers."""
        numbers: dict[str, int] = {}
        for b in batches:
            if (n := self._known.get(b.result_id)) is None:
                n = self._insert(db, b)
            if n is not None:
                numbers[b.result_id] = n
        if dropped := [(numbers[b.result_id], seq) for b in batches if b.result_id in numbers for seq in b.dropped]:
            db.executemany(DROP_EVENT, dropped)
        db.executemany(ADD_EVENT, [(n, seq, kind, bytearray(raw)) for b in batches
                                   if (n := numbers.get(b.result_id)) is not None
                                   for seq, kind, raw in b.encoded_events()])
        if marked := [(b.cut, b.incomplete, numbers[b.result_id]) for b in batches
                      if (b.cut or b.incomplete) and b.result_id in numbers]:
            db.executemany(MARK, marked)
        if ended := [(b.status, b.ended_at, numbers[b.result_id]) for b in batches
                     if b.status is not None and b.result_id in numbers]:
            db.executemany(END, ended)
        return numbers

    def _insert(self, db: sqlite3.Connection, b: Batch) -> int | None:
        """The result's number: its row made first, where the batch describes it; None
        when it was never described (the store failed then): nothing to add to."""
        if b.meta is not None:
            made = db.execute("INSERT OR IGNORE INTO results (id, meta, started_at, expires_at) VALUES (?, ?, ?, ?)",
                              (b.result_id, bytearray(orjson.dumps(b.meta)), b.started_at, b.started_at + self.ttl))
            if made.rowcount == 1 and made.lastrowid is not None:
                return made.lastrowid
        return _number(db, b.result_id)

    def _remember(self, numbers: dict[str, int], batches: Sequence[Batch]) -> None:
        """Once a flush is committed: the numbers of the results it wrote that still run."""
        known = self._known
        if len(known) + len(numbers) > KNOWN_NUMBERS:
            known.clear()  # runs whose end never came here (the server stopped meanwhile), forgotten
        known.update(numbers)
        for b in batches:
            if b.status is not None:
                known.pop(b.result_id, None)

    def _write_each(self, db: sqlite3.Connection, batches: Sequence[Batch]) -> None:
        """A flush that failed whole, again a transaction per result and per
        EVENTS_PER_TRANSACTION of its events: one result that cannot be written (a disk
        full again) holds up no other, and what waited through an outage needs no more
        room at once than a small part of it."""
        unsaved: list[str] = []
        failure: BaseException | None = None
        # The smallest first: the room there is goes to as many results as it can hold,
        # not to the first part of one too large for it.
        for b in sorted(batches, key=lambda b: len(b.events)):
            try:
                self._write_batch(db, b)
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

    def _write_batch(self, db: sqlite3.Connection, b: Batch) -> None:
        """One result's batch, its events committed EVENTS_PER_TRANSACTION at a time."""
        events = b.encoded_events()
        chunks = [events[i:i + EVENTS_PER_TRANSACTION] for i in range(0, len(events), EVENTS_PER_TRANSACTION)] or [[]]
        result_n: int | None = None
        for number, chunk in enumerate(chunks):
            with db:
                db.execute("BEGIN")
                if number == 0:
                    result_n = self._insert(db, b)
                    if result_n is None:
                        return
                    if b.dropped:
                        db.executemany(DROP_EVENT, [(result_n, seq) for seq in b.dropped])
                db.executemany(ADD_EVENT, [(result_n, i, kind, bytearray(raw)) for i, kind, raw in chunk])
                if number == len(chunks) - 1:
                    if b.cut or b.incomplete:
                        db.execute(MARK, (b.cut, b.incomplete, result_n))
                    if b.status is not None:
                        db.execute(END, (b.status, b.ended_at, result_n))

    async def load(self, result_id: str) -> Result | None:
        now = self._clock()

        def read(db: sqlite3.Connection) -> Result | None:
            row = db.execute(
                "SELECT n, meta, started_at, ended_at, status, cut, incomplete FROM results"
                " WHERE id = ? AND expires_at > ?", (result_id, now)).fetchone()
            if row is None:
                return None
            result_n, meta, started_at, ended_at, status, cut, incomplete = row
            events = _events(db, result_n, 0)
            return Result(result_id, orjson.loads(meta), started_at, ended_at, status, bool(cut), bool(incomplete),
                          events)

        return await self._call(read)

    def follow(self, result_id: str, after: int, until: float) -> AsyncIterator[tuple[list[StoredEvent], bool]]:
        return follow_once(self, result_id, after)

    async def expire(self) -> int:
        now = self._clock()

        def delete(db: sqlite3.Connection) -> int:
            self._known.clear()  # a run outlasting its result's life would otherwise be written to a number reused
            with db:
                db.execute("BEGIN")
                db.execute("DELETE FROM result_events WHERE result IN (SELECT n FROM results WHERE expires_at <= ?)",
                           (now,))
                return db.execute("DELETE FROM results WHERE expires_at <= ?", (now,)).rowcount

        return await self._call(delete)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._thread, self._forget)
        self._thread.shutdown(wait=True)


def _identity(path: Path) -> FileIdentity | None:
    """Which file the path names, and as it is: device, inode, size, time of last change."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns


def _number(db: sqlite3.Connection, result_id: str) -> int | None:
    row = db.execute("SELECT n FROM results WHERE id = ?", (result_id,)).fetchone()
    return None if row is None else int(row[0])


def _create(db: sqlite3.Connection) -> None:
    """The tables, made where they are missing, in one transaction; a file of the
    layout before (results by id alone, ``events`` by result id) moved over into
    them, each result numbered in the order it began."""
    with db:
        db.execute("BEGIN")  # deferred: a file that needs nothing made is only read (it may be read-only)
        old = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                         (OLD_EVENTS,)).fetchone() is not None
        if old:
            db.execute("ALTER TABLE results RENAME TO results_before")
            db.execute("DROP INDEX IF EXISTS results_expiry")
        for statement in SCHEMA:
            db.execute(statement)
        if old:
            columns = "id, meta, started_at, ended_at, status, cut, incomplete, expires_at"
            db.execute(f"INSERT INTO results ({columns}) SELECT {columns} FROM results_before ORDER BY started_at")
            db.execute("INSERT OR IGNORE INTO result_events (result, seq, kind, data)"
                       f" SELECT r.n, e.seq, e.kind, e.data FROM {OLD_EVENTS} e JOIN results r ON r.id = e.result_id")
            db.execute(f"DROP TABLE {OLD_EVENTS}")
            db.execute("DROP TABLE results_before")


def _events(db: sqlite3.Connection, result_n: int, after: int) -> list[StoredEvent]:
    rows = db.execute("SELECT seq, kind, data FROM result_events WHERE result = ? AND seq > ? ORDER BY seq",
                      (result_n, after)).fetchall()
    return [(seq, kind, _loads(data)) for seq, kind, data in rows]


def _loads(data: bytes) -> Any:
    return orjson.loads(data)
