"""Property tests: each parser, fed arbitrary lines mixed into real recorded output,
never raises, and everything it says is a known event that JSON can carry."""

from __future__ import annotations

import math
from collections.abc import Callable

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import DATA
from webtrace.events import Event, Parser
from webtrace.parsers import MtrParser, PingParser, TracepathParser, TracerouteParser

KINDS = {"reply", "summary", "hop", "progress", "trim", "cycle"}

PARSERS: dict[str, tuple[Callable[[], Parser], list[str]]] = {
    "ping": (lambda: PingParser(count=4), ["ping_v4_loopback.txt", "ping_v6_loopback.txt", "ping_v4_lossy.txt"]),
    "traceroute": (TracerouteParser, ["traceroute_v4_lab.txt", "traceroute_v6_lab.txt"]),
    "mtr": (lambda: MtrParser(address="203.0.113.10", count=3), ["mtr_v4_lab.raw", "mtr_v4_loopback.raw"]),
    "tracepath": (TracepathParser, ["tracepath_v4_lab.txt", "tracepath_v6_lab.txt", "tracepath_v6_loopback.txt"]),
}


def recorded(tool: str) -> list[str]:
    return [line for name in PARSERS[tool][1] for line in (DATA / name).read_text().splitlines()]


# Lines that look almost right: real lines with their digits, points and spaces
# replaced, and whatever text at all.
def near_misses(lines: list[str]) -> st.SearchStrategy[str]:
    swap = st.sampled_from(["1.2.3", "²", "٣", "", " ", "-1", "1e309", "nan", "99999999999999999999", "\x00", "."])
    return st.builds(
        lambda line, old, new: line.replace(old, new),
        st.sampled_from(lines), st.sampled_from(list("0123456789. ")), swap,
    )


def mixed(tool: str) -> st.SearchStrategy[list[str]]:
    lines = recorded(tool)
    noise = st.one_of(st.text(max_size=80), near_misses(lines), st.sampled_from(lines))
    return st.lists(noise, max_size=40).flatmap(
        lambda extra: st.permutations(lines + extra).map(list)
    )


def check(events: list[Event]) -> None:
    for event in events:
        assert event.kind in KINDS
        orjson.dumps(event.data)  # raises on what JSON cannot carry
        for value in event.data.values():
            if isinstance(value, float):
                assert math.isfinite(value)


def feed_all(tool: str, lines: list[str]) -> None:
    parser = PARSERS[tool][0]()
    for line in lines:
        check(parser.feed(line))
    check(parser.finish())


@settings(max_examples=150, deadline=None)
@given(mixed("ping"))
def test_ping_parser_never_raises(lines: list[str]) -> None:
    feed_all("ping", lines)


@settings(max_examples=150, deadline=None)
@given(mixed("traceroute"))
def test_traceroute_parser_never_raises(lines: list[str]) -> None:
    feed_all("traceroute", lines)


@settings(max_examples=150, deadline=None)
@given(mixed("mtr"))
def test_mtr_parser_never_raises(lines: list[str]) -> None:
    feed_all("mtr", lines)


@settings(max_examples=150, deadline=None)
@given(mixed("tracepath"))
def test_tracepath_parser_never_raises(lines: list[str]) -> None:
    feed_all("tracepath", lines)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(recorded("tracepath")), max_size=30))
def test_tracepath_rows_add_up_whatever_the_order(lines: list[str]) -> None:
    parser = TracepathParser()
    for line in lines:
        for event in parser.feed(line):
            if event.kind == "hop":
                row = event.data
                assert row["sent"] == len(row["rtts_ms"]) == len(row["probe_hosts"])
                assert row["received"] == sum(rtt is not None for rtt in row["rtts_ms"])
                assert all(i is None or 0 <= i < len(row["hosts"]) for i in row["probe_hosts"])


def test_lines_that_once_cut_the_stream() -> None:
    feed_all("ping", ["rtt min/avg/max/mdev = 1.2.3/0.1/0.2/0.3 ms",
                      "64 bytes from ::1: icmp_seq=1 ttl=64 time=1.2.3 ms"])
    feed_all("traceroute", [" 1  127.0.0.1  1.2.3 ms  0.1 ms *", " ²  host (127.0.0.1)  0.1 ms"])
    feed_all("mtr", ["x ² 33000", "p 0 1.5 33000", "h 0 127.0.0.1"])
