from webtrace.events import Event
from webtrace.parsers.mtr import MtrParser
from tests.helpers import DATA


def run(name: str, address: str, count: int) -> tuple[MtrParser, list[Event]]:
    parser = MtrParser(address=address, count=count)
    events: list[Event] = []
    for line in (DATA / name).read_text().splitlines():
        events.extend(parser.feed(line))
    return parser, events + parser.finish()


def test_loopback_is_one_hop() -> None:
    for name, address in (("mtr_v4_loopback.raw", "127.0.0.1"), ("mtr_v6_loopback.raw", "::1")):
        parser, events = run(name, address, 3)
        [row] = parser.table()
        assert row["hop"] == 1 and row["hosts"][0]["address"] == address
        assert row["sent"] == 3 and row["received"] == 3 and row["loss_pct"] == 0
        assert row["best_ms"] <= row["avg_ms"] <= row["worst_ms"]
        assert [e.data for e in events if e.kind == "progress"][-1] == {"done": 3, "total": 3}


def test_lab_path_silent_hop_and_lossy_link() -> None:
    for name, address, r2 in (
        ("mtr_v4_lab.raw", "203.0.113.10", "198.51.100.2"),
        ("mtr_v6_lab.raw", "2001:db8:c::10", "2001:db8:b::2"),
    ):
        parser, _ = run(name, address, 10)
        table = parser.table()
        assert [r["hop"] for r in table] == [1, 2, 3]
        assert table[0]["hosts"] == [] and table[0]["loss_pct"] == 100
        assert table[1]["hosts"] == [{"address": r2, "name": "r2.lab.test"}]
        assert table[1]["loss_pct"] == 0
        assert table[2]["hosts"][0]["address"] == address
        assert 0 < table[2]["loss_pct"] < 100
        assert table[2]["sent"] == 10


def test_unreachable_target_keeps_all_probed_hops() -> None:
    parser, _ = run("mtr_v4_unreachable.raw", "203.0.113.99", 3)
    table = parser.table()
    assert len(table) == 6
    assert table[0]["hosts"] == []
    # Past r2, every hop is r2 saying "host unreachable" seconds later; those
    # late replies count as received, not lost, although the next probe left first.
    for row in table[1:5]:
        assert row["hosts"] == [{"address": "198.51.100.2", "name": "r2.lab.test"}]
    for row in table[2:5]:
        assert row["best_ms"] > 1000 and row["received"] == 3 and row["loss_pct"] == 0


def test_several_hosts_on_one_hop_and_late_replies() -> None:
    parser = MtrParser(address="192.0.2.99", count=3)
    for line in ["x 0 1", "h 0 192.0.2.1", "p 0 1000 1", "x 0 2", "h 0 192.0.2.2",
                 "d 0 two.example", "x 0 3", "p 0 3000 2"]:
        parser.feed(line)
    [row] = parser.table()
    assert [h["address"] for h in row["hosts"]] == ["192.0.2.1", "192.0.2.2"]
    assert row["hosts"][1]["name"] == "two.example"
    # Probe 2 was counted lost when probe 3 left, then its late reply came back.
    assert row["received"] == 2 and row["loss_pct"] == 0
    parser.finish()
    assert parser.table()[0]["loss_pct"] == 33.3


def test_garbage_is_ignored() -> None:
    parser = MtrParser(address="192.0.2.1", count=1)
    for line in ["", "mtr: unexpected", "x", "p 0 abc 1", "z 0 1"]:
        assert parser.feed(line) == []
