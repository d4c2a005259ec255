from webtrace.parsers.traceroute import TracerouteParser, parse_hop
from tests.helpers import DATA


def hops(name: str) -> list[dict]:
    parser = TracerouteParser()
    return [e.data for line in (DATA / name).read_text().splitlines() for e in parser.feed(line)]


def test_loopback_ipv4_and_ipv6() -> None:
    [v4] = hops("traceroute_v4_loopback.txt")
    assert v4["hop"] == 1 and v4["hosts"] == [{"address": "127.0.0.1", "name": "localhost"}]
    assert v4["sent"] == 3 and v4["received"] == 3 and v4["loss_pct"] == 0
    [v6] = hops("traceroute_v6_loopback.txt")
    assert v6["hosts"] == [{"address": "::1", "name": None}]


def test_silent_hop_then_named_hops() -> None:
    rows = hops("traceroute_v4_lab.txt")
    assert [r["hop"] for r in rows] == [1, 2, 3]
    assert rows[0]["hosts"] == [] and rows[0]["rtts_ms"] == [None, None, None]
    assert rows[0]["loss_pct"] == 100
    assert rows[1]["hosts"] == [{"address": "198.51.100.2", "name": "r2.lab.test"}]
    assert rows[2]["hosts"][0]["address"] == "203.0.113.10"


def test_ipv6_path_with_a_lost_probe() -> None:
    rows = hops("traceroute_v6_lab.txt")
    assert rows[2]["hosts"] == [{"address": "2001:db8:c::10", "name": "target.lab.test"}]
    assert rows[2]["rtts_ms"][0] is None and rows[2]["received"] == 2


def test_unreachable_annotations() -> None:
    rows = hops("traceroute_v4_unreachable.txt")
    assert rows[-1]["notes"] == ["!H", "!H", "!H"]


def test_several_hosts_on_one_hop() -> None:
    row = parse_hop(" 4  a.example (192.0.2.1)  1.1 ms b.example (192.0.2.2)  2.2 ms *")
    assert row is not None
    assert [h["address"] for h in row["hosts"]] == ["192.0.2.1", "192.0.2.2"]
    assert row["rtts_ms"] == [1.1, 2.2, None]
    assert row["probe_hosts"] == [0, 1, None]  # who answered which probe, for per-probe formats
    assert row["best_ms"] == 1.1 and row["worst_ms"] == 2.2


def test_header_is_not_a_hop() -> None:
    assert parse_hop("traceroute to 127.0.0.1 (127.0.0.1), 30 hops max, 60 byte packets") is None
