"""mtr for a terminal: a line per new hop, then the table laid out as mtr --report does."""

from __future__ import annotations

from webtrace.events import Event
from webtrace.parsers import MtrParser
from webtrace.formats.mtr_report import MtrReport

from tests.helpers import DATA


def report(name: str, address: str, count: int) -> list[str]:
    parser, view = MtrParser(address=address, count=count), MtrReport("lg.example.net", started=0)
    out: list[str] = []
    for line in (DATA / name).read_text().splitlines():
        for event in parser.feed(line):
            out += view.lines(event)
    for event in parser.finish():
        out += view.lines(event)
    return out + view.lines(Event("end", {"status": "ok"}))


def test_the_lab_path_with_its_silent_hop_and_names() -> None:
    lines = report("mtr_v4_lab.raw", "203.0.113.10", 10)
    assert lines[:2] == ["  2. 198.51.100.2", "  3. 203.0.113.10"]  # hops as they first answer
    assert lines[2] == "" and lines[3].startswith("Start: 1970-01-01T")
    assert lines[4].startswith("HOST: lg.example.net ")
    assert lines[4].endswith("Loss%   Snt  Last   Avg  Best  Wrst StDev")
    assert lines[5].startswith("  1.|-- ???") and "100.0%    10" in lines[5]
    assert lines[6].startswith("  2.|-- r2.lab.test (198.51.100.2)") and "  0.0%    10" in lines[6]
    assert lines[7].startswith("  3.|-- target.lab.test (203.0.113.10)")
    # Every figure sits under its heading.
    assert {len(line) for line in lines[4:]} == {len(lines[4])}


def test_ipv6_loopback() -> None:
    lines = report("mtr_v6_loopback.raw", "::1", 3)
    assert lines[0] == "  1. ::1"
    assert lines[-1].startswith("  1.|-- ")
    assert "0.0%     3" in lines[-1]


def test_a_trim_and_several_hosts_on_one_hop() -> None:
    view = MtrReport("lg", started=0)
    row = {"hop": 2, "sent": 3, "received": 2, "loss_pct": 33.3, "last_ms": 1.0, "avg_ms": 1.0, "best_ms": 1.0,
           "worst_ms": 1.0, "stdev_ms": 0.0}
    assert view.lines(Event("hop", {**row, "hop": 3, "hosts": [{"address": "192.0.2.9", "name": None}]})) == [
        "  3. 192.0.2.9"]
    hosts = [{"address": "192.0.2.1", "name": None}, {"address": "192.0.2.2", "name": "two.example"}]
    assert view.lines(Event("hop", {**row, "hosts": hosts})) == ["  2. 192.0.2.1", "  2. two.example (192.0.2.2)"]
    assert view.lines(Event("trim", {"hops": 2})) == [
        "     (the target is hop 2: its replies from nearer were lost at first)"]
    assert view.lines(Event("trim", {"hops": 2})) == []  # said once
    table = view.lines(Event("end", {"status": "ok"}))
    assert [line[:9] for line in table[3:]] == ["  2.|-- 1", "    |-- t"]  # hop 3 was trimmed


def test_names_as_and_country_where_known() -> None:
    view = MtrReport("lg", started=0)
    hop = {"hop": 2, "sent": 3, "received": 3, "loss_pct": 0.0, "last_ms": 1.0, "avg_ms": 1.0,
           "best_ms": 1.0, "worst_ms": 1.0, "stdev_ms": 0.0}
    first = view.lines(Event("hop", {**hop, "hosts": [
        {"address": "198.51.100.2", "name": None, "asn": 64501, "as_name": "Transit Example", "country": "DE"}]}))
    assert first == ["  2. AS64501 198.51.100.2 [DE]"]
    # The name arrives later: no new line, but the table has it.
    assert view.lines(Event("hop", {**hop, "hosts": [
        {"address": "198.51.100.2", "name": "r2.lab.test", "asn": 64501, "country": "DE"}]})) == []
    table = view.lines(Event("end", {"status": "ok"}))
    assert table[-1].startswith("  2.|-- AS64501 r2.lab.test (198.51.100.2) [DE] ")
