"""Results in Redis Streams (``redis://``, ``rediss://``, ``redis+unix:///PATH``):
one stream per result, so every instance behind one proxy reads and follows
the results of every other.

A result's stream holds a first entry with its description (``meta``), then an
entry per event (``e`` its id, ``k`` its name, ``d`` its data), and an entry
with its end (``end``); ``cut`` and ``incomplete`` may ride on any entry. The
key expires with the result (EXPIREAT, set with every write). A follower on
another instance reads the stream and then blocks on it (XREAD) until the end.
A batch without a description never begins a stream (NOMKSTREAM): if redis lost
the stream, ``save`` says so and the result is written again whole from the
memory of the server recording it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .records import Result, StoredEvent
from .store import Batch, StoreError

KEY = "webtrace:result:{}"
# A store that does not answer must not hold a write (or a reader) up for long.
TIMEOUT_S = 2.0
BLOCK_MS = 1000  # a follower's wait for more, shorter than TIMEOUT_S


class RedisStore:
    shared = True  # every instance behind one proxy records into it

    def __init__(self, uri: str, ttl: float) -> None:
        self.name = uri
        # A continuous run's events while it runs: by result, each event's number -> its entry.
        self._entries: dict[str, dict[int, Any]] = {}
        self.ttl = ttl
        # limits' spelling of a unix socket (redis+unix://) is redis-py's unix://.
        url = "unix://" + uri.removeprefix("redis+unix://") if uri.startswith("redis+unix://") else uri
        # Any: redis-py's reply types are unions of everything a reply can be.
        self._redis: Any = aioredis.from_url(
            url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S, retry_on_timeout=False)

    async def save(self, batches: Sequence[Batch]) -> Sequence[str]:
        # A batch without its description adds to a stream that must exist already: one
        # that is gone (redis restarted empty) is not begun again headless, it is reported.
        firsts: dict[int, str] = {}  # the reply of each such batch's first entry
        entries_of: dict[int, tuple[str, int]] = {}  # a continuous run's event: its reply, (result, number)
        deleted: list[tuple[str, int]] = []  # forgotten once the deletion went through
        ended: list[str] = []
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for b in batches:
                    key = KEY.format(b.result_id)
                    headless = b.meta is None
                    if not headless:
                        pipe.xadd(key, {"meta": orjson.dumps(b.meta), "started_at": repr(b.started_at)})
                        if b.meta is not None and b.meta.get("continuous"):
                            self._entries.setdefault(b.result_id, {})
                    remembered = self._entries.get(b.result_id)
                    if b.dropped and remembered:
                        gone = [remembered[number] for number in b.dropped if number in remembered]
                        if gone:
                            pipe.xdel(key, *gone)
                            deleted.extend((b.result_id, number) for number in b.dropped)
                    entries: list[dict[str, Any]] = [{"e": number, "k": kind, "d": raw}
                                                     for number, kind, raw in b.encoded_events()]
                    flags: dict[str, Any] = {name: 1 for name in ("cut", "incomplete") if getattr(b, name)}
                    if b.status is not None:
                        entries.append({"end": b.status, "ended_at": repr(b.ended_at), **flags})
                    elif flags:
                        entries.append(flags)
                    if not entries and headless:
                        continue
                    if headless:
                        firsts[len(pipe)] = b.result_id
                    for entry in entries:
                        if remembered is not None and "e" in entry:
                            entries_of[len(pipe)] = (b.result_id, entry["e"])
                        pipe.xadd(key, entry, nomkstream=headless)
                    if b.status is not None:
                        ended.append(b.result_id)
                    pipe.expireat(key, int(b.started_at + self.ttl) if not headless else int(time.time() + self.ttl))
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreError(str(exc) or type(exc).__name__) from exc
        for index, (result_id, number) in entries_of.items():
            if replies[index] is not None and result_id in self._entries:
                self._entries[result_id][number] = replies[index]
        for result_id, number in deleted:
            self._entries.get(result_id, {}).pop(number, None)
        for result_id in ended:
            self._entries.pop(result_id, None)
        return [result_id for index, result_id in firsts.items() if replies[index] is None]

    async def load(self, result_id: str) -> Result | None:
        try:
            entries = await self._redis.xrange(KEY.format(result_id))
        except (RedisError, OSError) as exc:
            raise StoreError(str(exc) or type(exc).__name__) from exc
        result: Result | None = None
        for _, fields in entries:
            result = _fold(result, result_id, fields)
        return result

    async def follow(self, result_id: str, after: int, until: float
                     ) -> AsyncIterator[tuple[list[StoredEvent], bool]]:
        """Events after ``after`` and whether the result has ended, then each new one as
        it is written, until the end (or ``until``, a Unix time, for a result whose writer
        stopped). A stream written again whole (redis restarted empty) is read from its
        new start; nothing is yielded twice."""
        key = KEY.format(result_id)
        last = "0-0"
        result: Result | None = None
        while time.time() < until:
            try:
                found = await self._redis.xread({key: last}, block=BLOCK_MS)
            except (RedisError, OSError) as exc:
                raise StoreError(str(exc) or type(exc).__name__) from exc
            fresh: list[StoredEvent] = []
            for _, entries in found or ():
                for entry_id, fields in entries:
                    last = entry_id
                    result = _fold(result, result_id, fields)
                    if result is not None and b"e" in fields and result.events[-1][0] > after:
                        fresh.append(result.events[-1])
                        after = fresh[-1][0]
            ended = result is not None and result.status is not None
            if fresh or ended:
                yield fresh, ended
            if ended:
                return

    async def expire(self) -> int:
        return 0  # redis expires each result's key itself

    async def close(self) -> None:
        await self._redis.aclose()


def _fold(result: Result | None, result_id: str, fields: dict[bytes, bytes]) -> Result | None:
    """The result with one more stream entry taken in."""
    if b"meta" in fields:
        result = Result(result_id, orjson.loads(fields[b"meta"]), float(fields[b"started_at"]))
    if result is None:
        return None  # entries whose description was lost: not a result
    if b"e" in fields:
        data: dict[str, Any] = orjson.loads(fields[b"d"])
        result.events.append((int(fields[b"e"]), fields[b"k"].decode(), data))
    if b"end" in fields:
        result.status, result.ended_at = fields[b"end"].decode(), float(fields[b"ended_at"])
    result.cut = result.cut or b"cut" in fields
    result.incomplete = result.incomplete or b"incomplete" in fields
    return result
