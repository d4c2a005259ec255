"""A kept result read in other programs' formats (``?format=``), from runs of the real
tools on loopback, and read back by those programs: RIPE's sagan strictly and
ripe-atlas-tools' offline renderer, the real ``mtr --json`` beside ours, Python's
csv, and jc's parsers on what the text routes print."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import jc
import pytest
from ripe.atlas.sagan import Result as AtlasResult  # type: ignore[import-untyped]

from tests.helpers import collect, hop_table
from tests.web.test_results import stored

STRICT = {"on_error": AtlasResult.ACTION_FAIL, "on_malformation": AtlasResult.ACTION_FAIL}
FILE_NAME = re.compile(r'(inline|attachment); filename="webtrace-(\w+)-([\w.-]+)-\d{8}T\d{6}Z\.([\w.]+)"')
# A request RIPE's tools might make goes to a closed port on this machine, never further.
OFFLINE = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "",
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": ""}


@pytest.fixture
async def client(make_client: Any, make_settings: Any, tmp_path: Path) -> Any:
    return await make_client(make_settings(results=f"sqlite:///{tmp_path}/results.sqlite3", mtr_count=3,
                                           ping_count=3))


async def a_result(client: Any, tool: str, target: str) -> dict[str, Any]:
    events = await collect(await client.get(f"/api/v1/{tool}", params={"target": target}))
    return await stored(client, events[0].data["result"])


async def read(client: Any, result: dict[str, Any], fmt: str) -> tuple[Any, bytes]:
    resp = await client.get(f"/api/v1/results/{result['id']}", params={"format": fmt})
    body = await resp.read()
    assert resp.status == 200, body
    return resp, body


def events(result: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in result["events"] if e["event"] == kind]


@pytest.mark.parametrize(("tool", "target", "fits"), [
    ("ping", "127.0.0.1", ["json", "text", "atlas", "csv"]),
    ("traceroute", "::1", ["json", "text", "atlas", "csv"]),
    ("mtr", "127.0.0.1", ["json", "text", "atlas", "mtr-json", "csv"])])
async def test_each_format_that_fits_has_its_media_type_and_a_file_name(
        client: Any, tool: str, target: str, fits: list[str]) -> None:
    result = await a_result(client, tool, target)
    media = {"json": "application/json", "text": "text/plain", "atlas": "application/json",
             "mtr-json": "application/json", "csv": "text/csv"}
    extension = {"json": "json", "text": "txt", "atlas": "atlas.json", "mtr-json": "mtr.json", "csv": "csv"}
    for fmt in fits:
        resp, body = await read(client, result, fmt)
        assert resp.content_type == media[fmt] and body
        name = FILE_NAME.fullmatch(resp.headers["Content-Disposition"])
        assert name is not None, resp.headers["Content-Disposition"]
        assert name[1] == ("inline" if fmt in ("json", "text") else "attachment")
        assert (name[2], name[3], name[4]) == (tool, target.replace(":", "-"), extension[fmt])
    # The default is webtrace's own JSON, the same as asking for it.
    _, own = await read(client, result, "json")
    assert json.loads(own) == result
    head = await client.head(f"/api/v1/results/{result['id']}", params={"format": fits[-1]})
    assert head.status == 200 and head.content_type == media[fits[-1]] and await head.read() == b""
    # A format that does not fit, or is none: 400 naming those that fit, and nothing else happens.
    for wrong in ("mtr-json" if tool != "mtr" else "xml", "ATLAS"):
        resp = await client.get(f"/api/v1/results/{result['id']}", params={"format": wrong})
        assert resp.status == 400
        message = (await resp.json())["error"]["message"]
        assert message.endswith(", ".join(fits[:-1]) + f" or {fits[-1]}"), message


async def test_ping_as_atlas_reads_back_strictly_as_its_replies(client: Any, tmp_path: Path) -> None:
    result = await a_result(client, "ping", "127.0.0.1")
    _, body = await read(client, result, "atlas")
    [read_back] = [AtlasResult.get(obj, **STRICT) for obj in json.loads(body)]
    replies = events(result, "reply")
    assert read_back.packets_sent == 3 == len(replies) and read_back.packets_received == 3
    assert [p.rtt for p in read_back.packets] == [r["rtt_ms"] for r in replies]
    assert read_back.destination_address == "127.0.0.1" and read_back.af == 4
    rendered = ripe_atlas_report(tmp_path, body)
    assert "56 bytes from 127.0.0.1 via probe #1" in rendered, rendered
    assert "3 packets transmitted, 3 received, 0.0% loss" in rendered, rendered


@pytest.mark.parametrize(("tool", "target"), [("traceroute", "127.0.0.1"), ("traceroute", "::1"),
                                              ("mtr", "127.0.0.1"), ("mtr", "::1")])
async def test_hops_as_atlas_read_back_strictly_and_render_offline(client: Any, tmp_path: Path, tool: str,
                                                                   target: str) -> None:
    result = await a_result(client, tool, target)
    _, body = await read(client, result, "atlas")
    [read_back] = [AtlasResult.get(obj, **STRICT) for obj in json.loads(body)]
    table = hop_table((e["event"], e["data"]) for e in result["events"])
    assert read_back.ip_path == [[target] * len(row["rtts_ms"]) for row in table]
    assert [[p.rtt for p in hop.packets] for hop in read_back.hops] == [row["rtts_ms"] for row in table]
    assert read_back.destination_ip_responded and read_back.af == (6 if ":" in target else 4)
    rendered = ripe_atlas_report(tmp_path, body)
    assert re.search(rf"^\s+1 {re.escape(target)}\s+[\d.]+ ms", rendered, re.MULTILINE), rendered
    assert "Probe #1" in rendered


# The report command asks RIPE's API about each probe it renders unless its own
# cache knows the probe: the places of a webtrace export are put there first.
SEED_PROBES = """
import sys
from ripe.atlas.cousteau import Probe
from ripe.atlas.tools.cache import cache
for number in range(1, int(sys.argv[1]) + 1):
    cache.set(f"probe:{number}", Probe(id=number, meta_data={"id": number, "description": "webtrace"}), 3600)
"""


def ripe_atlas_report(tmp_path: Path, body: bytes) -> str:
    """What ``ripe-atlas report --from-file`` prints of it (offline renderers only)."""
    path = tmp_path / "atlas.json"
    path.write_bytes(body)
    env = {**OFFLINE, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    places = str(len(json.loads(body)))
    subprocess.run([sys.executable, "-c", SEED_PROBES, places], env=env, timeout=60, check=True)
    tool = Path(sys.executable).parent / "ripe-atlas"
    done = subprocess.run([str(tool), "report", "--from-file", str(path)], capture_output=True, text=True,
                          timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("target", ["127.0.0.1", "::1"])
async def test_mtr_json_has_the_shape_of_the_real_mtr_json(client: Any, target: str) -> None:
    result = await a_result(client, "mtr", target)
    _, body = await read(client, result, "mtr-json")
    ours = json.loads(body)
    # -G: loopback answers at once, and mtr's own 5 s wait for late answers changes nothing of the shape.
    real = json.loads(subprocess.run(["mtr", "--json", "-n", "-c", "2", "-i", "0.2", "-G", "0.2", target],
                                     capture_output=True, text=True, timeout=30, check=True).stdout)

    def shape(value: Any) -> Any:  # keys, in order, and the JSON type of every value
        if isinstance(value, dict):
            return [(key, shape(item)) for key, item in value.items()]
        if isinstance(value, list):
            return [shape(item) for item in value]
        return type(value).__name__

    assert shape(ours) == shape(real)
    [hub] = ours["report"]["hubs"]
    [row] = hop_table((e["event"], e["data"]) for e in result["events"])
    assert (hub["count"], hub["host"], hub["Snt"], hub["Loss%"], hub["Avg"]) == (
        1, target, row["sent"], row["loss_pct"], row["avg_ms"])
    assert ours["report"]["mtr"]["dst"] == target and ours["report"]["mtr"]["tests"] == 3


async def test_csv_reads_back_as_the_run_s_hops_and_replies(client: Any) -> None:
    mtr = await a_result(client, "mtr", "127.0.0.1")
    resp, body = await read(client, mtr, "csv")
    assert resp.charset == "utf-8"
    [row] = csv.DictReader(io.StringIO(body.decode()))
    [hop] = hop_table((e["event"], e["data"]) for e in mtr["events"])
    assert (row["node"], row["hop"], row["address"], row["sent"]) == (mtr["node"], "1", "127.0.0.1", str(hop["sent"]))
    assert float(row["avg_ms"]) == hop["avg_ms"]
    ping = await a_result(client, "ping", "127.0.0.1")
    _, body = await read(client, ping, "csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [(int(r["seq"]), float(r["rtt_ms"]), int(r["ttl"])) for r in rows] == [
        (r["seq"], r["rtt_ms"], r["ttl"]) for r in events(ping, "reply")]


async def printed_by(client: Any, route: str, target: str, parser: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What jc's ``parser`` reads of what a text route printed, and the run's result."""
    resp = await client.get(route, params={"target": target})
    printed = await resp.text()
    result = await stored(client, resp.headers["Link"].split("/")[1].split(">")[0])
    return cast(dict[str, Any], jc.parse(parser, printed, quiet=True)), result


@pytest.mark.parametrize("target", ["127.0.0.1", "::1"])
async def test_jc_reads_the_ping_text_route_as_its_events_say(client: Any, target: str) -> None:
    parsed, result = await printed_by(client, "/ping", target, "ping")
    replies = events(result, "reply")
    summary = {k: v for data in events(result, "summary") for k, v in data.items()}
    assert parsed["destination_ip"] == target
    assert parsed["packets_transmitted"] == summary["transmitted"] == 3
    assert parsed["packets_received"] == summary["received"] and parsed["packet_loss_percent"] == summary["loss_pct"]
    assert (parsed["round_trip_ms_min"], parsed["round_trip_ms_avg"], parsed["round_trip_ms_max"]) == (
        summary["min_ms"], summary["avg_ms"], summary["max_ms"])
    answers = [r for r in parsed["responses"] if r["type"] == "reply"]
    assert [(r["icmp_seq"], r["ttl"], r["time_ms"]) for r in answers] == [
        (r["seq"], r["ttl"], r["rtt_ms"]) for r in replies]


@pytest.mark.parametrize("target", ["127.0.0.1", "::1"])
async def test_jc_reads_the_trace_text_route_as_its_events_say(client: Any, target: str) -> None:
    parsed, result = await printed_by(client, "/trace", target, "traceroute")
    table = hop_table((e["event"], e["data"]) for e in result["events"])
    assert parsed["destination_ip"] == target
    assert [hop["hop"] for hop in parsed["hops"]] == [row["hop"] for row in table]
    for hop, row in zip(parsed["hops"], table, strict=True):
        assert [p["rtt"] for p in hop["probes"]] == [r for r in row["rtts_ms"] if r is not None]
        assert {p["ip"] for p in hop["probes"]} == {h["address"] for h in row["hosts"]}
