from typing import Any

from webtrace.events import Event
from webtrace.parsers.mtr import LATE_PROBES, MtrParser
from tests.helpers import DATA, hop_table


def table(events: list[Event]) -> list[dict[str, Any]]:
    return hop_table((e.kind, e.data) for e in events)


def run(name: str, address: str, count: int) -> tuple[list[dict[str, Any]], list[Event]]:
    parser = MtrParser(address=address, count=count)
    events: list[Event] = []
    for line in (DATA / name).read_text().splitlines():
        events.extend(parser.feed(line))
    events += parser.finish()
    return table(events), events


def test_loopback_is_one_hop() -> None:
    for name, address in (("mtr_v4_loopback.raw", "127.0.0.1"), ("mtr_v6_loopback.raw", "::1")):
        rows, events = run(name, address, 3)
        [row] = rows
        assert row["hop"] == 1 and row["hosts"][0]["address"] == address
        assert row["sent"] == 3 and row["received"] == 3 and row["loss_pct"] == 0
        assert row["best_ms"] <= row["avg_ms"] <= row["worst_ms"]
        assert [e.data for e in events if e.kind == "progress"][-1] == {"done": 3, "total": 3}


def test_lab_path_silent_hop_and_lossy_link() -> None:
    for name, address, r2 in (
        ("mtr_v4_lab.raw", "203.0.113.10", "198.51.100.2"),
        ("mtr_v6_lab.raw", "2001:db8:c::10", "2001:db8:b::2"),
    ):
        rows, _ = run(name, address, 10)
        assert [r["hop"] for r in rows] == [1, 2, 3]
        assert rows[0]["hosts"] == [] and rows[0]["loss_pct"] == 100
        assert rows[1]["hosts"] == [{"address": r2, "name": "r2.lab.test"}]
        assert rows[1]["loss_pct"] == 0
        assert rows[2]["hosts"][0]["address"] == address
        assert 0 < rows[2]["loss_pct"] < 100
        assert rows[2]["sent"] == 10


def test_unreachable_target_keeps_all_probed_hops() -> None:
    rows, _ = run("mtr_v4_unreachable.raw", "203.0.113.99", 3)
    assert len(rows) == 6
    assert rows[0]["hosts"] == []
    # Past r2, every hop is r2 saying "host unreachable" seconds later; those
    # late replies count as received, not lost, although the next probe left first.
    for row in rows[1:5]:
        assert row["hosts"] == [{"address": "198.51.100.2", "name": "r2.lab.test"}]
    for row in rows[2:5]:
        assert row["best_ms"] > 1000 and row["received"] == 3 and row["loss_pct"] == 0


def test_several_hosts_on_one_hop_and_late_replies() -> None:
    parser = MtrParser(address="192.0.2.99", count=3)
    events: list[Event] = []
    for line in ["x 0 1", "h 0 192.0.2.1", "p 0 1000 1", "x 0 2", "h 0 192.0.2.2",
                 "d 0 two.example", "x 0 3", "p 0 3000 2"]:
        events.extend(parser.feed(line))
    [row] = table(events)
    assert [h["address"] for h in row["hosts"]] == ["192.0.2.1", "192.0.2.2"]
    assert row["hosts"][1]["name"] == "two.example"
    # Probe 2 was counted lost when probe 3 left, then its late reply came back.
    assert row["received"] == 2 and row["loss_pct"] == 0
    last = parser.finish()
    events.extend(last)
    assert table(events)[0]["loss_pct"] == 33.3
    # The last row has each probe's time in the order sent: probe 2's came late, probe 3's never.
    assert [e.data["rtts_ms"] for e in last if e.kind == "hop"] == [[1.0, 3.0, None]]


def test_a_reply_later_than_the_latest_probes_is_not_counted() -> None:
    """A continuous run sends thousands of probes and mtr's numbers wrap: a reply is
    counted only for one of the hop's latest LATE_PROBES probes, and a number sent
    again names its newest probe."""
    parser = MtrParser(address="192.0.2.1", count=1000)
    lines = ["x 0 1", "h 0 192.0.2.1"] + [f"x 0 {seq}" for seq in range(2, LATE_PROBES + 2)]
    for line in lines + ["p 0 5000 1", "p 0 2000 2"]:  # probe 1 is too late; probe 2 just in time
        parser.feed(line)
    for line in ["x 0 2", "p 0 3000 2"]:  # number 2 again: the newest probe's reply
        parser.feed(line)
    [row] = [e.data for e in parser.finish() if e.kind == "hop"]
    assert row["sent"] == LATE_PROBES + 2 and row["received"] == 2
    assert row["rtts_ms"][:2] == [None, 2.0] and row["rtts_ms"][-1] == 3.0
    assert row["best_ms"] == 2.0 and row["worst_ms"] == 3.0


def test_every_hop_s_last_row_has_each_probe_s_time() -> None:
    for name, address in (("mtr_v4_lab.raw", "203.0.113.10"), ("mtr_v6_lab.raw", "2001:db8:c::10")):
        rows, events = run(name, address, 10)
        for row in rows:
            rtts = row["rtts_ms"]
            assert len(rtts) == row["sent"]
            assert sum(rtt is not None for rtt in rtts) == row["received"]
            if row["received"]:
                assert min(r for r in rtts if r is not None) == row["best_ms"]
        # Only the last rows carry them: the rows sent while it runs stay small.
        assert all("rtts_ms" not in e.data for e in events[:-len(rows)] if e.kind == "hop")


def test_garbage_is_ignored() -> None:
    parser = MtrParser(address="192.0.2.1", count=1)
    for line in ["", "mtr: unexpected", "x", "p 0 abc 1", "z 0 1"]:
        assert parser.feed(line) == []


def test_a_lost_first_reply_from_the_target_announces_no_phantom_hop() -> None:
    # Cycle 1: r1 silent, r2 answers, the target's reply is lost so mtr probes one
    # hop further; cycle 2: the target answers at hop 3.
    parser = MtrParser(address="203.0.113.10", count=2)
    events: list[Event] = []
    for line in ["x 0 1", "x 1 2", "h 1 198.51.100.2", "p 1 100 2", "x 2 3", "x 3 4", "x 4 5",
                 "x 0 6", "x 1 7", "p 1 100 7", "x 2 8", "h 2 203.0.113.10", "p 2 200 8"]:
        events.extend(parser.feed(line))
    events.extend(parser.finish())
    shown = {e.data["hop"] for e in events if e.kind == "hop"}
    assert shown == {1, 2, 3}
    assert [r["hop"] for r in table(events)] == [1, 2, 3]


def test_silent_hops_before_an_answer_are_shown_when_it_comes() -> None:
    parser = MtrParser(address="192.0.2.9", count=1)
    assert [e.data["hop"] for e in parser.feed("x 0 1") if e.kind == "hop"] == [1]
    assert [e for e in parser.feed("x 1 2") if e.kind == "hop"] == []  # not yet: nothing answered
    assert [e for e in parser.feed("x 2 3") if e.kind == "hop"] == []
    shown = [e.data["hop"] for e in parser.feed("h 2 192.0.2.9") if e.kind == "hop"]
    assert sorted(shown) == [2, 3]


def test_target_first_seen_too_far_is_trimmed_back() -> None:
    # The probe with TTL 3 is lost; the one with TTL 4 reaches the target, so mtr
    # first places the target at hop 4. Its next reply shows it at hop 3.
    parser = MtrParser(address="203.0.113.10", count=2)
    events: list[Event] = []
    for line in ["x 0 1", "h 0 192.0.2.1", "x 1 2", "h 1 198.51.100.2", "x 2 3", "x 3 4",
                 "h 3 203.0.113.10", "p 3 300 4", "x 0 5", "x 1 6", "x 2 7", "h 2 203.0.113.10", "p 2 250 7"]:
        events.extend(parser.feed(line))
    kinds = [(e.kind, e.data.get("hop", e.data.get("hops"))) for e in events if e.kind in ("hop", "trim")]
    assert ("hop", 4) in kinds
    assert kinds.index(("trim", 3)) > kinds.index(("hop", 4))
    assert [r["hop"] for r in table(events)] == [1, 2, 3]
    assert table(events)[-1]["hosts"][0]["address"] == "203.0.113.10"
