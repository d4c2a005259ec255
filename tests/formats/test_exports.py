"""Kept results in other programs' formats, read back by the readers made for them:
RIPE's ``ripe.atlas.sagan`` in its strict mode (any error or malformation raises),
Python's ``csv``, and mtr's JSON shape. The runs are the tools' recorded real
output, folded by the parsers webtrace runs; generated hop tables cover the rest."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ripe.atlas.sagan import Result as AtlasResult  # type: ignore[import-untyped]
from ripe.atlas.sagan.base import ResultError  # type: ignore[import-untyped]

from tests.helpers import DATA, hop_table
from webtrace.events import Event
from webtrace.formats.exports import ATLAS_PING, ATLAS_TRACEROUTE, CSV_HOPS, CSV_REPLIES, MTR_JSON, Export
from webtrace.formats.folded import file_name
from webtrace.results.records import Result
from webtrace.tools import MTR, PING, TRACEROUTE, ToolSpec

STRICT = {"on_error": AtlasResult.ACTION_FAIL, "on_malformation": AtlasResult.ACTION_FAIL}
STARTED = 1_796_000_000.25


def kept(spec: ToolSpec, recording: str, address: str, *, count: int | None = None,
         target: str | None = None) -> Result:
    """A result as a run of ``spec`` over the recorded output would have kept it."""
    parser = spec.parser_for(address, count or 3, "linux")
    assert parser is not None
    family = "6" if ":" in address else "4"
    events = [Event("start", {"tool": spec.name, "target": target or address, "address": address,
                              "family": family, "protocol": "icmp", "port": None, "count": count,
                              "command": f"{spec.name} {address}", "result": "r"})]
    for line in (DATA / recording).read_text().splitlines():
        events.append(Event("line", {"text": line}))
        events.extend(parser.feed(line))
    events.extend(parser.finish())
    events.append(Event("end", {"status": "ok", "exit_code": 0, "duration_s": 2.0, "message": "finished"}))
    meta = {name: events[0].data[name] for name in ("tool", "target", "address", "family", "protocol", "port",
                                                    "count", "command")}
    return Result("AAAAAAAAAAAAAAAAAAAAAA", {**meta, "node": "here"}, STARTED, STARTED + 2, "ok",
                  events=[(number, kind, data) for number, (kind, data) in enumerate(events, start=1)])


def rendered(export: Export, result: Result) -> bytes:
    return b"".join(export.render(result))


def atlas(export: Export, result: Result) -> list[Any]:
    objects = json.loads(rendered(export, result))
    return [AtlasResult.get(obj, **STRICT) for obj in objects]


def events_of(result: Result, kind: str) -> list[dict[str, Any]]:
    return [data for _, k, data in result.events if k == kind]


@pytest.mark.parametrize(("recording", "address"), [("ping_v4_loopback.txt", "127.0.0.1"),
                                                    ("ping_v6_loopback.txt", "::1"),
                                                    ("ping_v4_lossy.txt", "203.0.113.10")])
def test_ping_as_atlas_reads_back_as_the_run_s_replies(recording: str, address: str) -> None:
    result = kept(PING, recording, address, count=10, target="lossy.lab.test")
    [read] = atlas(ATLAS_PING, result)
    replies = events_of(result, "reply")
    summary = {k: v for data in events_of(result, "summary") for k, v in data.items()}
    assert read.type == "ping" and read.af == (6 if ":" in address else 4)
    assert read.destination_address == address and read.destination_name == "lossy.lab.test"
    assert read.packets_sent == summary["transmitted"] and read.packets_received == summary["received"]
    assert [p.rtt for p in read.packets] == [None if r["lost"] else r["rtt_ms"] for r in replies]
    assert [p.ttl for p in read.packets if p.rtt] == [r["ttl"] for r in replies if not r["lost"]]
    assert read.rtt_min == summary["min_ms"] and read.rtt_max == summary["max_ms"]
    assert read.created_timestamp == int(STARTED) and read.protocol == "ICMP"


@pytest.mark.parametrize(("spec", "recording", "address"), [
    (TRACEROUTE, "traceroute_v4_lab.txt", "203.0.113.10"), (TRACEROUTE, "traceroute_v6_lab.txt", "2001:db8:c::10"),
    (TRACEROUTE, "traceroute_v4_loopback.txt", "127.0.0.1"), (MTR, "mtr_v4_lab.raw", "203.0.113.10"),
    (MTR, "mtr_v6_lab.raw", "2001:db8:c::10"), (MTR, "mtr_v4_loopback.raw", "127.0.0.1")])
def test_hops_as_atlas_read_back_as_the_run_s_hop_table(spec: ToolSpec, recording: str, address: str) -> None:
    result = kept(spec, recording, address, count=10 if spec is MTR else None)
    [read] = atlas(ATLAS_TRACEROUTE, result)
    table = hop_table((kind, data) for _, kind, data in result.events)
    assert read.type == "traceroute" and read.destination_address == address
    assert [hop.index for hop in read.hops] == [row["hop"] for row in table]
    for hop, row in zip(read.hops, table, strict=True):
        rtts = [p.rtt for p in hop.packets if p.rtt is not None]
        assert rtts == [r for r in row["rtts_ms"] if r is not None]  # every probe that came back, in order
        assert len(hop.packets) == max(len(row["rtts_ms"]), 1)
        lost = sum(p.rtt is None for p in hop.packets)
        assert lost == row["sent"] - row["received"] or (row["sent"] == 0 and lost == 1)
        assert {p.origin for p in hop.packets if p.origin} == {h["address"] for h in row["hosts"]} or not rtts
    assert read.destination_ip_responded  # the target answered at the last hop


def test_a_hop_with_several_hosts_gives_each_probe_the_host_that_answered_it() -> None:
    hops = [{"hop": 1, "hosts": [{"address": "192.0.2.1", "name": None}, {"address": "192.0.2.2", "name": None}],
             "rtts_ms": [1.5, 2.5, None], "probe_hosts": [0, 1, None], "notes": [], "sent": 3, "received": 2,
             "loss_pct": 33.3}]
    [read] = atlas(ATLAS_TRACEROUTE, _result("traceroute", hops))
    assert read.ip_path == [["192.0.2.1", "192.0.2.2", None]]
    assert [p.rtt for p in read.hops[0].packets] == [1.5, 2.5, None]


def test_an_mtr_row_kept_without_probe_times_gives_each_answer_the_average() -> None:
    row = {"hop": 1, "hosts": [{"address": "192.0.2.1", "name": None}], "sent": 4, "received": 3,
           "loss_pct": 25.0, "avg_ms": 2.0, "best_ms": 1.0, "worst_ms": 3.0}
    [read] = atlas(ATLAS_TRACEROUTE, _result("mtr", [row]))
    assert [p.rtt for p in read.hops[0].packets] == [2.0, 2.0, 2.0, None]


def _result(tool: str, rows: list[dict[str, Any]], node: str = "here") -> Result:
    start = {"tool": tool, "target": "192.0.2.9", "address": "192.0.2.9", "family": "4", "protocol": "icmp",
             "port": None, "count": 3, "command": tool, "result": None}
    events = [("start", start), *(("hop", row) for row in rows),
              ("end", {"status": "ok", "exit_code": 0, "duration_s": 1.0, "message": "finished"})]
    return Result("AAAAAAAAAAAAAAAAAAAAAA", {**start, "node": node}, STARTED, STARTED + 1, "ok",
                  events=[(n, kind, data) for n, (kind, data) in enumerate(events, start=1)])


addresses = st.integers(1, 254).map(lambda n: f"198.51.100.{n}")


@st.composite
def hop_rows(draw: st.DrawFn) -> dict[str, Any]:
    hosts = draw(st.lists(addresses, max_size=3, unique=True))
    rtts = draw(st.lists(st.one_of(st.none(), st.floats(0.001, 9999, allow_nan=False).map(lambda r: round(r, 3))),
                         min_size=1, max_size=10))
    if not hosts:
        rtts = [None] * len(rtts)
    probe_hosts = [None if rtt is None else draw(st.integers(0, len(hosts) - 1)) for rtt in rtts]
    received = sum(r is not None for r in rtts)
    return {"hosts": [{"address": a, "name": None} for a in hosts], "rtts_ms": rtts, "probe_hosts": probe_hosts,
            "notes": [], "sent": len(rtts), "received": received,
            "loss_pct": round(100 * (len(rtts) - received) / len(rtts), 1)}


@settings(max_examples=150, deadline=None)
@given(st.lists(hop_rows(), min_size=1, max_size=30))
def test_any_hop_table_reads_back_strictly_as_it_was(rows: list[dict[str, Any]]) -> None:
    table = [{**row, "hop": number} for number, row in enumerate(rows, start=1)]
    [read] = atlas(ATLAS_TRACEROUTE, _result("traceroute", table))
    assert [hop.index for hop in read.hops] == [row["hop"] for row in table]
    for hop, row in zip(read.hops, table, strict=True):
        assert [p.rtt for p in hop.packets] == row["rtts_ms"]
        assert [p.origin for p in hop.packets] == [
            None if i is None else row["hosts"][i]["address"] for i in row["probe_hosts"]]


def test_a_run_from_several_places_is_one_atlas_result_per_place() -> None:
    rows = [{"hop": 1, "hosts": [{"address": "192.0.2.9", "name": None}], "rtts_ms": [1.0], "probe_hosts": [0],
             "notes": [], "sent": 1, "received": 1, "loss_pct": 0.0}]
    start = {"tool": "traceroute", "target": "example.test", "address": "192.0.2.9", "family": "4",
             "protocol": "icmp", "port": None, "count": None, "command": "traceroute", "result": None}
    refused = {**start, "address": None, "family": None, "command": None}
    end = {"status": "ok", "exit_code": 0, "duration_s": 1.0, "message": "finished"}
    events: list[tuple[str, dict[str, Any]]] = [
        ("start", {**start, "node": "ams"}), ("start", {**refused, "node": "fra"}),
        ("hop", {**rows[0], "node": "ams"}),
        ("end", {"status": "refused", "exit_code": None, "duration_s": 0.1, "node": "fra",
                 "message": "example.test resolves to 192.0.2.9, which this server does not probe"}),
        ("end", {**end, "node": "ams"}), ("done", {"status": "partial", "nodes": {"ams": "ok", "fra": "refused"}})]
    result = Result("AAAAAAAAAAAAAAAAAAAAAA", {**start, "node": "front", "nodes": ["ams", "fra"]}, STARTED,
                    STARTED + 1, "partial", events=[(n, k, d) for n, (k, d) in enumerate(events, start=1)])
    objects = json.loads(rendered(ATLAS_TRACEROUTE, result))
    assert [(o["prb_id"], o["webtrace"]["node"]) for o in objects] == [(1, "ams"), (2, "fra")]
    ams = AtlasResult.get(objects[0], **STRICT)
    assert ams.ip_path == [["192.0.2.9"]]
    with pytest.raises(ResultError, match="does not probe"):  # a place that did not run says why, as Atlas does
        AtlasResult.get(objects[1], **STRICT)
    # mtr's JSON from several places: a report a place, named where mtr names its host.
    reports = json.loads(rendered(MTR_JSON, result))
    assert [r["report"]["mtr"]["src"] for r in reports] == ["ams", "fra"]
    assert [len(r["report"]["hubs"]) for r in reports] == [1, 0]
    # CSV: the place is a column.
    assert [row["node"] for row in csv.DictReader(io.StringIO(rendered(CSV_HOPS, result).decode()))] == ["ams"]


def test_mtr_json_has_mtr_s_keys_and_the_run_s_figures() -> None:
    result = kept(MTR, "mtr_v4_lab.raw", "203.0.113.10", count=10, target="target.lab.test")
    report = json.loads(rendered(MTR_JSON, result))["report"]
    assert list(report) == ["mtr", "hubs"]
    assert report["mtr"] == {"src": "here", "dst": "target.lab.test", "tos": 0, "tests": 10, "psize": "64",
                             "bitpattern": "0x00"}
    table = hop_table((kind, data) for _, kind, data in result.events)
    assert [list(hub) for hub in report["hubs"]] == [
        ["count", "host", "Loss%", "Snt", "Last", "Avg", "Best", "Wrst", "StDev"]] * len(table)
    assert [hub["host"] for hub in report["hubs"]] == ["???", "r2.lab.test", "target.lab.test"]
    assert [(hub["Loss%"], hub["Snt"], hub["Avg"]) for hub in report["hubs"]] == [
        (row["loss_pct"], row["sent"], row["avg_ms"] or 0.0) for row in table]


def test_mtr_json_has_an_asn_column_when_any_as_is_known() -> None:
    rows = [{"hop": 1, "hosts": [], "sent": 2, "received": 0, "loss_pct": 100.0},
            {"hop": 2, "hosts": [{"address": "192.0.2.9", "name": None, "asn": 64500}], "sent": 2, "received": 2,
             "loss_pct": 0.0, "avg_ms": 1.0}]
    hubs = json.loads(rendered(MTR_JSON, _result("mtr", rows)))["report"]["hubs"]
    assert [hub["ASN"] for hub in hubs] == ["AS???", "AS64500"]


def test_csv_reads_back_a_row_per_host_of_each_hop_and_a_row_per_reply() -> None:
    result = kept(TRACEROUTE, "traceroute_v4_lab.txt", "203.0.113.10")
    body = rendered(CSV_HOPS, result).decode()
    assert body.startswith("node,hop,address,name,asn,as_name,country,loss_pct,sent,received,")
    rows = list(csv.DictReader(io.StringIO(body)))
    table = hop_table((kind, data) for _, kind, data in result.events)
    assert [(int(r["hop"]), r["address"]) for r in rows] == [
        (row["hop"], host["address"]) for row in table for host in row["hosts"] or [{"address": ""}]]
    assert [float(r["loss_pct"]) for r in rows] == [row["loss_pct"] for row in table]
    ping = kept(PING, "ping_v4_lossy.txt", "203.0.113.10", count=10)
    replies = list(csv.DictReader(io.StringIO(rendered(CSV_REPLIES, ping).decode())))
    assert [(int(r["seq"]), r["lost"], r["rtt_ms"]) for r in replies] == [
        (r["seq"], "true" if r["lost"] else "false", "" if r["rtt_ms"] is None else str(r["rtt_ms"]))
        for r in events_of(ping, "reply")]


def test_csv_cells_a_spreadsheet_would_run_are_quoted_harmless() -> None:
    rows = [{"hop": 1, "hosts": [{"address": "192.0.2.1", "name": "=HYPERLINK(\"http://x\")",
                                  "as_name": "+cmd", "asn": 64500}], "sent": 1, "received": 1, "loss_pct": 0.0}]
    [row] = csv.DictReader(io.StringIO(rendered(CSV_HOPS, _result("mtr", rows)).decode()))
    assert row["name"] == "'=HYPERLINK(\"http://x\")" and row["as_name"] == "'+cmd" and row["asn"] == "64500"


def test_a_file_name_names_the_tool_the_target_and_when() -> None:
    result = _result("mtr", [])
    result.meta["target"] = "2001:db8::1/../x y"
    assert file_name(result, "csv") == "webtrace-mtr-2001-db8--1-..-x-y-20261130T005320Z.csv"
