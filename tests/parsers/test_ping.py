from webtrace.events import Event
from webtrace.parsers.ping import PingParser
from tests.helpers import DATA


def run(name: str, count: int) -> list[Event]:
    parser = PingParser(count=count)
    events: list[Event] = []
    for line in (DATA / name).read_text().splitlines():
        events.extend(parser.feed(line))
    return events + parser.finish()


def of(events: list[Event], kind: str) -> list[dict]:
    return [e.data for e in events if e.kind == kind]


def test_ipv4_replies_progress_and_summary() -> None:
    events = run("ping_v4_loopback.txt", 4)
    replies = of(events, "reply")
    assert [r["seq"] for r in replies] == [1, 2, 3, 4]
    assert all(r["ttl"] == 64 and r["rtt_ms"] > 0 and not r["lost"] for r in replies)
    assert of(events, "progress")[-1] == {"done": 4, "total": 4}
    [summary] = of(events, "summary")  # once, whole: its totals and its times
    assert summary["transmitted"] == 4 and summary["received"] == 4 and summary["loss_pct"] == 0
    assert summary["min_ms"] <= summary["avg_ms"] <= summary["max_ms"]


def test_ipv6_replies() -> None:
    replies = of(run("ping_v6_loopback.txt", 4), "reply")
    assert [r["host"] for r in replies] == ["::1"] * 4


def test_lost_packets_are_reported_as_they_happen() -> None:
    replies = of(run("ping_v4_lossy.txt", 10), "reply")
    lost = [r["seq"] for r in replies if r["lost"]]
    answered = [r["seq"] for r in replies if not r["lost"]]
    assert lost and answered
    assert sorted(lost + answered) == list(range(1, 11))
    summary = of(run("ping_v4_lossy.txt", 10), "summary")[-1]
    assert summary["loss_pct"] == 100 * len(lost) / 10


def test_unreachable_target() -> None:
    events = run("ping_v4_unreachable.txt", 3)
    errors = [r for r in of(events, "reply") if r.get("error")]
    assert errors and errors[0]["error"] == "Destination Host Unreachable"
    assert errors[0]["host"] == "198.51.100.2"
    [summary] = of(events, "summary")  # no times line: sent as ping ends
    assert summary["received"] == 0 and summary["loss_pct"] == 100 and summary["errors"] == 3
    assert "min_ms" not in summary


def test_duplicates_and_noise_are_ignored() -> None:
    parser = PingParser(count=2)
    assert parser.feed("64 bytes from 192.0.2.1: icmp_seq=1 ttl=64 time=0.1 ms (DUP!)") == []
    assert parser.feed("pipe 2") == []
    assert parser.feed("") == []


def test_timestamps_from_ping_d_are_understood() -> None:
    parser = PingParser(count=1)
    [reply, _] = parser.feed("[1732512345.123456] 64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.042 ms")
    assert reply.data["seq"] == 1 and reply.data["rtt_ms"] == 0.042
