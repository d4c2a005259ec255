"""Two kept runs laid against each other, as pure functions: hop tables made by hand
and generated, ping replies, runs from several places."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webtrace.formats.comparison import NotComparable, compare
from webtrace.results.records import Result

TARGET = "203.0.113.10"


def host(address: str, asn: int | None = None) -> dict[str, Any]:
    return {"address": address, "name": None, **({"asn": asn} if asn else {})}


def row(hop: int, *hosts: dict[str, Any], avg: float | None = 1.0, loss: float = 0.0) -> dict[str, Any]:
    return {"hop": hop, "hosts": list(hosts), "sent": 3, "received": 0 if not hosts else 3, "loss_pct": loss,
            "avg_ms": avg if hosts else None}


def kept(rows: list[dict[str, Any]], tool: str = "mtr", *, node: str = "here", result_id: str = "a" * 22,
         replies: list[dict[str, Any]] | None = None, nodes: list[str] | None = None) -> Result:
    start = {"tool": tool, "target": "target.example", "address": TARGET, "family": "4", "protocol": "icmp",
             "port": None, "count": 3, "command": tool, "result": result_id}
    events: list[tuple[str, dict[str, Any]]] = [("start", start), *(("hop", r) for r in rows),
                                                *(("reply", r) for r in replies or [])]
    events.append(("end", {"status": "ok", "exit_code": 0, "duration_s": 1.0, "message": "done"}))
    meta = {**start, "node": node, **({"nodes": nodes} if nodes else {})}
    return Result(result_id, meta, 1_796_000_000.0, 1_796_000_001.0, "ok",
                  events=[(n, k, d) for n, (k, d) in enumerate(events, start=1)])


PATH = [row(1, host("192.0.2.1", 64500)), row(2), row(3, host("198.51.100.2", 64501)),
        row(4, host(TARGET, 64502), avg=10.0)]


def changes(found: Any) -> list[float]:
    """Every change a comparison states, in order."""
    if isinstance(found, dict):
        return [v for k, v in found.items() if k == "change" and v is not None] + [
            c for k, v in found.items() if k != "change" for c in changes(v)]
    if isinstance(found, list):
        return [c for item in found for c in changes(item)]
    return []


def test_a_result_against_itself_is_the_same_path_with_nothing_changed() -> None:
    found = compare(kept(PATH), kept(PATH, result_id="b" * 22), hops=True)
    [place] = found["places"]
    assert found["verdict"] == "Same path; at the target avg +0.0 ms, loss 0 % -> 0 %."
    assert place["same_path"] and place["changed_at"] is None
    assert [h["state"] for h in place["hops"]] == ["same", "unknown", "same", "same"]  # hop 2 never answered
    assert set(changes(found)) == {0}


def test_a_changed_hop_is_named_with_both_ases_and_swapping_negates_every_change() -> None:
    moved = [PATH[0], PATH[1], row(3, host("198.51.100.66", 64510), avg=3.0),
             row(4, host(TARGET, 64502), avg=22.3, loss=4.0)]
    forward = compare(kept(PATH), kept(moved), hops=True)
    back = compare(kept(moved), kept(PATH), hops=True)
    assert forward["verdict"] == "The path changed at hop 3: AS64501 -> AS64510."
    assert back["verdict"] == "The path changed at hop 3: AS64510 -> AS64501."
    assert forward["places"][0]["changed_at"] == 3 and not forward["places"][0]["same_path"]
    assert changes(back) == [-c for c in changes(forward)] and 12.3 in changes(forward)


def test_ecmp_a_silent_hop_and_a_target_reached_sooner() -> None:
    ecmp = [row(1, host("192.0.2.1"), host("192.0.2.2")), row(2, host("198.51.100.9")), row(3, host(TARGET))]
    other = [row(1, host("192.0.2.2")), row(2), row(3, host(TARGET))]
    found = compare(kept(ecmp), kept(other), hops=True)["places"][0]
    assert [h["state"] for h in found["hops"]] == ["varies", "unknown", "same"]
    assert found["same_path"]
    sooner = compare(kept(PATH), kept([PATH[0], row(2, host(TARGET), avg=5.0)]), hops=True)
    assert sooner["verdict"] == "The path changed: the target answered at hop 4 in a, at hop 2 in b."
    assert [h["state"] for h in sooner["places"][0]["hops"]] == ["same", "unknown", "only_a", "only_a"]


def test_addresses_name_a_change_where_no_as_is_known() -> None:
    a = [row(1, host("192.0.2.1")), row(2, host(TARGET))]
    b = [row(1, host("192.0.2.7")), row(2, host(TARGET))]
    assert compare(kept(a), kept(b), hops=True)["verdict"] == "The path changed at hop 1: 192.0.2.1 -> 192.0.2.7."


def test_ping_compares_its_statistics_and_lays_both_series_side_by_side() -> None:
    def replies(*rtts: float | None) -> list[dict[str, Any]]:
        return [{"seq": n, "rtt_ms": rtt, "ttl": 64, "host": TARGET, "lost": rtt is None}
                for n, rtt in enumerate(rtts, start=1)]

    a, b = kept([], "ping", replies=replies(1.0, 2.0, 3.0, 2.0)), kept([], "ping", replies=replies(3.0, None, 5.0, 4.0))
    found = compare(a, b, hops=False)
    stats = found["places"][0]["statistics"]
    assert found["verdict"] == "Avg +2.0 ms, loss 0 % -> 25 %."
    assert stats["received"] == {"a": 4, "b": 3, "change": -1}
    assert stats["loss_pct"] == {"a": 0.0, "b": 25.0, "change": 25.0}
    assert [p["rtt_ms"] for p in found["places"][0]["series"]["b"]] == [3.0, None, 5.0, 4.0]
    assert changes(compare(b, a, hops=False)) == [-c for c in changes(found)]


def test_runs_from_several_places_compare_place_by_place() -> None:
    def several(rows_by_node: dict[str, list[dict[str, Any]]]) -> Result:
        result = kept([], nodes=list(rows_by_node))
        events = [(1, "start", {**result.events[0][2], "node": node}) for node in rows_by_node]
        events += [(2, "hop", {**r, "node": node}) for node, rows in rows_by_node.items() for r in rows]
        result.events = events
        return result

    found = compare(several({"ams": PATH, "fra": PATH}), several({"ams": PATH, "nyc": PATH}), hops=True)
    assert [p["node"] for p in found["places"]] == ["ams", "fra", "nyc"]
    assert found["verdict"] == ("From ams: same path; at the target avg +0.0 ms, loss 0 % -> 0 %; from fra: only a "
                                "ran from fra; from nyc: only b ran from nyc.")


def test_different_tools_cannot_be_compared() -> None:
    with pytest.raises(NotComparable, match="a mtr result and a traceroute result cannot be compared"):
        compare(kept(PATH), kept(PATH, "traceroute"), hops=True)


addresses = st.sampled_from([f"198.51.100.{n}" for n in range(1, 6)])


@st.composite
def hop_tables(draw: st.DrawFn) -> list[dict[str, Any]]:
    table = []
    for number in range(1, draw(st.integers(1, 30)) + 1):
        hosts = draw(st.lists(addresses, max_size=3, unique=True))
        avg = draw(st.floats(0.01, 500, allow_nan=False).map(lambda x: round(x, 3)))
        loss = draw(st.sampled_from([0.0, 10.0, 33.3, 100.0]))
        table.append(row(number, *(host(a, draw(st.sampled_from([None, 64500, 64501]))) for a in hosts),
                         avg=avg, loss=loss))
    if draw(st.booleans()):
        table.append(row(len(table) + 1, host(TARGET)))
    return table


@settings(max_examples=200, deadline=None)
@given(hop_tables(), hop_tables())
def test_any_two_hop_tables_compare_both_ways_alike(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    forward = compare(kept(a), kept(b), hops=True)
    back = compare(kept(b), kept(a), hops=True)
    assert changes(back) == [-c for c in changes(forward)]
    place, other = forward["places"][0], back["places"][0]
    assert place["changed_at"] == other["changed_at"]
    assert [h["hop"] for h in place["hops"]] == list(range(1, max(len(a), len(b)) + 1))
    flipped = {"only_a": "only_b", "only_b": "only_a"}
    assert [flipped.get(h["state"], h["state"]) for h in place["hops"]] == [h["state"] for h in other["hops"]]
    itself = compare(kept(a), kept(a), hops=True)["places"][0]
    assert itself["same_path"] and set(changes(itself)) <= {0}
