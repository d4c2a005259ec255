"""Hop names: the system resolver's answer, cached, shared, bounded and never waited for long."""

from __future__ import annotations

import asyncio
import threading

import pytest

from webtrace.net.names import NameCache, plain_name, system_ask


def test_the_system_resolver_names_loopback_from_etc_hosts() -> None:
    assert system_ask("127.0.0.1") == "localhost"


@pytest.mark.parametrize(("name", "shown"), [
    ("r1.example.net.", "r1.example.net"),
    ("192.0.2.1", None),  # the address itself
    ("", None),
    ("evil<b>.example", None),
    ("a\x1b[31m.example", None),
    ("x" * 300, None),
    ("Core1.AMS", "Core1.AMS"),
])
def test_only_host_names_are_shown(name: str, shown: str | None) -> None:
    assert plain_name(name, "192.0.2.1") == shown


class Gate:
    """A resolver whose answers wait until the test lets them through (in threads, as the real one runs)."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.open = threading.Event()
        self.asked: list[str] = []
        self.lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0

    def __call__(self, address: str) -> str | None:
        with self.lock:
            self.asked.append(address)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.open.wait(10)
            return self.names.get(address)
        finally:
            with self.lock:
                self.running -= 1


async def test_a_lookup_is_shared_and_its_answer_kept() -> None:
    gate = Gate({"192.0.2.1": "r1.example.net"})
    cache = NameCache(timeout=5, ttl=60, concurrency=2, ask=gate)
    try:
        first, second = cache.lookup("192.0.2.1"), cache.lookup("192.0.2.1")
        assert first is second and cache.known("192.0.2.1") == (False, None)
        gate.open.set()
        assert await first == "r1.example.net"
        assert cache.known("192.0.2.1") == (True, "r1.example.net")
        assert await cache.lookup("192.0.2.1") == "r1.example.net"  # a new lookup is allowed, but
        assert gate.asked.count("192.0.2.1") == 2  # known() is what runs consult first
    finally:
        cache.close()


async def test_names_expire_and_unnamed_addresses_are_asked_again_sooner() -> None:
    now = [0.0]
    gate = Gate({"192.0.2.1": "r1.example.net"})
    gate.open.set()
    cache = NameCache(timeout=5, ttl=3600, concurrency=2, ask=gate, clock=lambda: now[0])
    try:
        await cache.lookup("192.0.2.1")
        await cache.lookup("192.0.2.2")
        now[0] = 61.0
        assert cache.known("192.0.2.1") == (True, "r1.example.net")
        assert cache.known("192.0.2.2") == (False, None)  # no name: at most a minute
        now[0] = 3601.0
        assert cache.known("192.0.2.1") == (False, None)
    finally:
        cache.close()


async def test_a_slow_resolver_costs_a_timeout_and_holds_at_most_its_slots() -> None:
    gate = Gate({})
    cache = NameCache(timeout=0.3, ttl=60, concurrency=2, ask=gate)
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(*(cache.lookup(f"192.0.2.{n}") for n in range(1, 11))), timeout=5)
        assert answers == [None] * 10
        assert gate.most_at_once <= 2 and len(gate.asked) <= 2  # the others never reached a thread
        assert cache.timeouts == 10
    finally:
        gate.open.set()
        cache.close()


async def test_the_cache_is_bounded() -> None:
    gate = Gate({})
    gate.open.set()
    cache = NameCache(timeout=5, ttl=60, concurrency=4, ask=gate, max_entries=3)
    try:
        for n in range(1, 6):
            await cache.lookup(f"192.0.2.{n}")
        assert [cache.known(f"192.0.2.{n}")[0] for n in range(1, 6)] == [False, False, True, True, True]
    finally:
        cache.close()
