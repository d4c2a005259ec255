"""tracepath's lines, recorded from the real tool on loopback and in the network lab
(whose link between r1 and r2 carries at most 1400 bytes), read as hop rows and a summary."""

from __future__ import annotations

from typing import Any

from tests.helpers import DATA, hop_table
from webtrace.events import Event
from webtrace.parsers import TracepathParser


def parsed(name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    parser = TracepathParser()
    events: list[Event] = []
    for line in (DATA / name).read_text().splitlines():
        events.extend(parser.feed(line))
    events.extend(parser.finish())
    return hop_table((e.kind, e.data) for e in events), [e.data for e in events if e.kind == "summary"]


def test_loopback_is_one_hop_at_loopback_s_mtu() -> None:
    rows, [summary] = parsed("tracepath_v4_loopback.txt")
    [row] = rows
    assert row["hosts"] == [{"address": "127.0.0.1", "name": None}] and row["received"] == 1 == row["sent"]
    assert "pmtu" not in row  # tracepath said no change along the way
    assert summary == {"pmtu": 65535, "hops": 1, "back": 1}


def test_v6_loopback_s_local_mtu_line_is_not_a_hop() -> None:
    rows, [summary] = parsed("tracepath_v6_loopback.txt")
    [row] = rows  # "1?: [LOCALHOST] ... pmtu 65536" is this host's own MTU
    assert row["hosts"] == [{"address": "::1", "name": None}] and row["sent"] == 2 and row["received"] == 2
    assert summary == {"pmtu": 65536, "local_pmtu": 65536, "hops": 1, "back": 1}


def test_the_lab_path_drops_to_1400_at_hop_2_for_both_families() -> None:
    for name, r1, r2, target in (("tracepath_v4_lab.txt", "192.0.2.1", "198.51.100.2", "203.0.113.10"),
                                 ("tracepath_v6_lab.txt", "2001:db8:a::1", "2001:db8:b::2", "2001:db8:c::10")):
        rows, [summary] = parsed(name)
        assert [row["hop"] for row in rows] == [1, 2, 3]
        silent, second, last = rows
        assert silent["hosts"] == [] and silent["loss_pct"] == 100 and silent["rtts_ms"] == [None]
        # r1 said "too big" (at the second hop's TTL); tracepath asked again, and r2 answered.
        assert [h["address"] for h in second["hosts"]] == [r1, r2] and second["pmtu"] == 1400
        assert second["probe_hosts"] == [0, 1] and second["received"] == 2
        assert last["hosts"][0]["address"] == target and "pmtu" not in last
        assert summary == {"pmtu": 1400, "local_pmtu": 1500, "hops": 3, "back": 3}


def test_a_path_mtu_the_kernel_already_knew_is_where_it_begins() -> None:
    parser = TracepathParser()
    events = [e for line in (" 1?: [LOCALHOST]                      pmtu 1400", " 1:  no reply",
                             " 2:  198.51.100.2    0.072ms ", " 3:  203.0.113.10   0.022ms reached",
                             "     Resume: pmtu 1400 hops 3 back 3 ") for e in parser.feed(line)]
    assert not any("pmtu" in e.data for e in events if e.kind == "hop")  # no hop reports it again
    summaries = [e.data for e in events if e.kind == "summary"]
    assert summaries == [{"pmtu": 1400, "local_pmtu": 1400, "hops": 3, "back": 3}]


def test_asymmetry_too_many_hops_and_lines_it_does_not_know() -> None:
    parser = TracepathParser()
    rows = [e.data for line in (" 1:  192.0.2.1      3.910ms asymm  2 ", " 1:  192.0.2.1   1.688ms asymm  2",
                                " 2:  no reply", "     Too many hops: pmtu 1500", "tracepath: bad", " x:  1.2.3.4",
                                " 3:  192.0.2.9   send failed", " 0:  192.0.2.1  1.0ms")
            for e in parser.feed(line)]
    hops = [r for r in rows if "hop" in r]
    assert [(r["hop"], r["sent"], r.get("asymm")) for r in hops] == [(1, 1, 2), (1, 2, 2), (2, 1, None)]
    assert [r for r in rows if "hop" not in r] == [{"pmtu": 1500}]
