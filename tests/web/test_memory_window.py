"""The in-memory budgets: limits' moving window, decided as limits' own memory
storage decides it, with expired entries dropped by a sweep on the loop, never a
thread."""

from __future__ import annotations

import asyncio
import copy
import threading

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from webtrace.web.memory_window import Entry, MemoryWindows
from webtrace.web.ratelimit import ClientLimiter


async def test_every_hit_is_decided_as_limits_own_storage_decides_it() -> None:
    ours, theirs = MovingWindowRateLimiter(MemoryWindows()), MovingWindowRateLimiter(MemoryStorage())
    item = parse("3/minute")
    for client, cost in [("a", 1), ("a", 1), ("b", 2), ("a", 1), ("a", 1), ("b", 2), ("b", 1), ("c", 4), ("c", 3)]:
        allowed = await ours.hit(item, client, cost=cost)
        assert allowed == await theirs.hit(item, client, cost=cost), (client, cost)
        stats, expected = await ours.get_window_stats(item, client), await theirs.get_window_stats(item, client)
        assert stats.remaining == expected.remaining and abs(stats.reset_time - expected.reset_time) < 1
        assert await ours.test(item, client) == await theirs.test(item, client)


async def test_a_budget_in_memory_decides_as_one_over_limits_own_storage() -> None:
    # The budget calls this storage's moving window without awaiting it; over limits'
    # own memory storage it awaits limits' calls: the decisions must be the same.
    ours = ClientLimiter("3/minute;5/hour", "async+memory://", ipv6_prefix=64, per_client=1)
    theirs = ClientLimiter("3/minute;5/hour", "async+memory://", ipv6_prefix=64, per_client=1)
    theirs._primary = MemoryStorage()
    for n, (client, cost) in enumerate([("a", 1), ("a", 2), ("b", 2), ("a", 1), ("b", 1), ("c", 4), ("b", 1),
                                        ("a", 1), ("b", 2), ("c", 3), ("a", 2)]):
        for limiter in (ours, theirs):
            limiter._refused.clear()  # the storage decides each time, not the memory of a refusal
            if n in (4, 8):  # each key's oldest entry leaves the minute, not the hour
                for entries in limiter._primary.events.values():  # type: ignore[attr-defined]
                    # A copy: limits may keep one object for the entries of a run of several.
                    entries[-1] = aged = copy.copy(entries[-1])
                    aged.atime -= 120
        mine, expected = await ours._hit_storage(client, cost), await theirs._hit_storage(client, cost)
        assert mine._replace(reset_s=0) == expected._replace(reset_s=0), (client, cost)
        assert abs(mine.reset_s - expected.reset_s) <= 1
        assert (await ours.test(client))._replace(reset_s=0) == (await theirs.test(client))._replace(reset_s=0)


async def test_a_window_frees_its_runs_when_they_are_older_than_it() -> None:
    limiter = ClientLimiter("2/second", "async+memory://", ipv6_prefix=64, per_client=1)
    assert (await limiter.hit("a")).allowed and (await limiter.hit("a")).allowed
    assert not (await limiter._hit_storage("a")).allowed  # the storage itself refuses, not the memory of it
    await asyncio.sleep(1.01)  # the window passing is what is under test
    assert (await limiter._hit_storage("a")).allowed


async def test_many_clients_hitting_start_no_thread() -> None:
    storage = MemoryWindows()
    limiter = MovingWindowRateLimiter(storage)
    item = parse("10/minute")
    threads = threading.active_count()
    for client in range(300):
        await limiter.hit(item, f"192.0.2.{client}")
        await asyncio.sleep(0)
    assert threading.active_count() == threads
    assert len(storage.events) == 300  # none expired yet


async def test_the_sweep_drops_expired_entries_and_keys_and_stops_when_none_are_left() -> None:
    storage = MemoryWindows()
    assert await storage.acquire_entry("fresh", 5, 60)
    assert storage._sweep is not None  # the first entry sets the sweep going
    storage.events["gone"] = [Entry(-1), Entry(-2)]  # type: ignore[list-item]  # both expired
    storage.events["mixed"] = [Entry(60), Entry(-1)]  # type: ignore[list-item]  # newest first
    storage.sweep()
    assert set(storage.events) == {"fresh", "mixed"} and len(storage.events["mixed"]) == 1
    assert storage._sweep is not None  # again in a second: entries are left
    storage.events = {"gone": [Entry(-1)]}  # type: ignore[list-item]
    storage.sweep()
    assert storage.events == {} and storage._sweep is None
