"""Hop rows annotated with names, AS and country; a late name sends the row again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ipdbs import write_asn_db, write_geo_db
from webtrace.events import Event
from webtrace.hops import Directory
from webtrace.net.ipdb import IpDatabases
from webtrace.net.names import NameCache


def hop(number: int, *addresses: str, sent: int = 1) -> Event:
    return Event("hop", {"hop": number, "hosts": [{"address": a, "name": None} for a in addresses], "sent": sent})


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[IpDatabases]:
    dbs = IpDatabases(asn=write_asn_db(tmp_path / "asn.mmdb"), geo=write_geo_db(tmp_path / "geo.mmdb"))
    yield dbs
    dbs.close()


def test_nothing_to_add_means_no_notes() -> None:
    assert Directory().for_run() is None
    assert Directory(databases=IpDatabases()).for_run() is None


def test_rows_get_as_and_country_at_once(databases: IpDatabases) -> None:
    notes = Directory(databases=databases).for_run()
    assert notes is not None
    [row] = notes.annotate([hop(2, "198.51.100.2", "10.9.9.9")])
    assert row.data["hosts"] == [
        {"address": "198.51.100.2", "name": None, "asn": 64501, "as_name": "Transit Example", "country": "DE"},
        {"address": "10.9.9.9", "name": None},
    ]
    line = Event("line", {"text": "x"})
    assert notes.annotate([line]) == [line]


async def test_a_late_name_sends_the_hops_latest_row_again(databases: IpDatabases) -> None:
    release = threading.Event()
    names = {"198.51.100.2": "r2.lab.test"}

    def ask(address: str) -> str | None:
        release.wait(10)
        return names.get(address)

    cache = NameCache(timeout=5, ttl=60, concurrency=2, ask=ask)
    notes = Directory(cache, databases).for_run()
    assert notes is not None
    try:
        first = notes.annotate([hop(2, "198.51.100.2", sent=1), hop(3, "203.0.113.10")])
        assert [h["name"] for e in first for h in e.data["hosts"]] == [None, None]
        notes.annotate([hop(2, "198.51.100.2", sent=2)])  # the latest row of hop 2
        assert notes.renamed() == []
        release.set()
        await notes.settled()
        renamed = notes.renamed()
        assert [(e.data["hop"], e.data["sent"], e.data["hosts"][0]["name"]) for e in renamed] == [(2, 2, "r2.lab.test")]
        assert renamed[0].data["hosts"][0]["asn"] == 64501
        assert notes.renamed() == []  # sent once
        # Later rows of the hop carry the name from the start.
        [again] = notes.annotate([hop(2, "198.51.100.2", sent=3)])
        assert again.data["hosts"][0]["name"] == "r2.lab.test"
    finally:
        release.set()
        cache.close()


async def test_a_name_for_a_trimmed_hop_is_not_sent() -> None:
    release = threading.Event()
    cache = NameCache(timeout=5, ttl=60, concurrency=2, ask=lambda a: "far.example" if release.wait(10) else None)
    notes = Directory(cache).for_run()
    assert notes is not None
    try:
        notes.annotate([hop(1, "127.0.0.1"), hop(4, "192.0.2.4")])
        notes.annotate([Event("trim", {"hops": 1})])
        release.set()
        await notes.settled()
        assert [e.data["hop"] for e in notes.renamed()] == [1]
    finally:
        release.set()
        cache.close()


def test_a_name_the_tool_gave_is_kept() -> None:
    cache = NameCache(timeout=5, ttl=60, concurrency=1, ask=lambda a: None)
    notes = Directory(cache).for_run()
    assert notes is not None
    event = Event("hop", {"hop": 1, "hosts": [{"address": "127.0.0.1", "name": "given.example"}]})
    [row] = notes.annotate([event])
    assert row.data["hosts"] == [{"address": "127.0.0.1", "name": "given.example"}]
    cache.close()
