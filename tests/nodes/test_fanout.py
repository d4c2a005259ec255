"""A run from several places (nodes=): real webtrace processes as the other nodes,
each on loopback; this test's app is the front."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ContextManager

import psutil
import pytest
from jsonschema import Draft202012Validator
from ripe.atlas.sagan import Result as AtlasResult  # type: ignore[import-untyped]

from tests.helpers import SSE, FakeNode, collect, eventually, eventually_async, fake_node, sse_events, tool_processes
from tests.server import ServerProcess, running_server, server_process, stopped
from webtrace.events import EVENT_DATA
from webtrace.settings import NodeSpec
from webtrace.web.keys import RESULTS

NODE_ENV = {"WEBTRACE_PINGCOUNT": "3", "WEBTRACE_PINGINTERVAL": "0.2"}


@pytest.fixture
def fra1(tmp_path: Path) -> Iterator[ServerProcess]:
    with server_process(tmp_path / "fra1", {**NODE_ENV, "WEBTRACE_NODE_NAME": "fra1"}, unix=False) as node:
        yield node


@pytest.fixture
def ams1(tmp_path: Path) -> Iterator[ServerProcess]:
    # Its own policy allows nothing on loopback: it refuses the target the others run.
    env = {**NODE_ENV, "WEBTRACE_NODE_NAME": "ams1", "WEBTRACE_ALLOW_NETWORKS": "", "WEBTRACE_RATELIMIT": "2/minute"}
    with server_process(tmp_path / "ams1", env, unix=False) as node:
        yield node


@pytest.fixture(autouse=True)
def node_dirs(tmp_path: Path) -> None:
    for name in ("fra1", "ams1"):
        (tmp_path / name).mkdir()


async def front(make_client: Any, make_settings: Any, *nodes: NodeSpec, **changes: Any) -> Any:
    return await make_client(make_settings(**{"node_name": "lon1", "nodes": nodes, "ping_count": 3, **changes}))


def by_node(events: list[SSE]) -> dict[str, list[SSE]]:
    parts: dict[str, list[SSE]] = {}
    for event in events:
        if event.event != "done":
            parts.setdefault(event.data["node"], []).append(event)
    return parts


async def test_every_node_runs_and_one_stream_carries_them_all(
    make_client: Any, make_settings: Any, fra1: ServerProcess
) -> None:
    client = await front(make_client, make_settings, NodeSpec("fra1", fra1.base))
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "all"}))
    assert [int(e.id or 0) for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "done"
    assert events[-1].data == {"status": "ok", "nodes": {"lon1": "ok", "fra1": "ok"}}
    parts = by_node(events)
    assert list(parts) == ["lon1", "fra1"] or list(parts) == ["fra1", "lon1"]
    for name, part in parts.items():
        assert part[0].event == "start" and part[-1].event == "end" and part[-1].data["status"] == "ok", name
        assert [r.data["seq"] for r in part if r.event == "reply"] == [1, 2, 3]
    # One result for the whole run: every part's start names it.
    results = {part[0].data["result"] for part in parts.values()}
    assert len(results) == 1 and None not in results


async def test_a_subset_and_the_text_routes(make_client: Any, make_settings: Any, fra1: ServerProcess) -> None:
    client = await front(make_client, make_settings, NodeSpec("fra1", fra1.base))
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "fra1"}))
    assert set(by_node(events)) == {"fra1"}
    text = await (await client.get("/ping", params={"target": "127.0.0.1", "nodes": "fra1,lon1"})).text()
    lines = text.splitlines()
    assert all(line.startswith(("[lon1] ", "[fra1] ")) for line in lines), lines
    assert sum("icmp_seq=" in line for line in lines) == 6
    refused = await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "fra1,nope"})
    assert refused.status == 400
    assert "there is no node called 'nope' here; nodes are: lon1, fra1" in (await refused.json())["error"]["message"]


async def test_failures_stay_local(make_client: Any, make_settings: Any, fra1: ServerProcess,
                                   ams1: ServerProcess, tmp_path: Path) -> None:
    gone = "http://127.0.0.1:9"  # nothing listens there
    client = await front(make_client, make_settings, NodeSpec("fra1", fra1.base), NodeSpec("ams1", ams1.base),
                         NodeSpec("gone", gone))
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "all"}))
    parts = by_node(events)
    assert parts["lon1"][-1].data["status"] == "ok" and parts["fra1"][-1].data["status"] == "ok"
    # A part its node never began has a start of its own, with no address, before its end.
    [begun, refused] = parts["ams1"]
    assert begun.event == "start" and begun.data["address"] is None and begun.data["tool"] == "ping"
    assert refused.data["status"] == "refused" and refused.data["code"] == "target_denied"
    assert refused.data["http_status"] == 403 and "127.0.0.1" in refused.data["message"]
    [begun, unavailable] = parts["gone"]
    assert begun.event == "start" and begun.data["command"] is None
    assert unavailable.data["status"] == "unavailable" and "cannot connect" in unavailable.data["message"]
    assert events[-1].data["status"] == "partial"
    # Every event, the refused and the unavailable parts' included, holds what its closed schema says.
    for event in events:
        Draft202012Validator(EVENT_DATA[event.event]).validate(event.data)


async def test_on_the_text_routes_each_part_ends_with_its_own_error_line(
    make_client: Any, make_settings: Any, ams1: ServerProcess
) -> None:
    client = await front(make_client, make_settings, NodeSpec("ams1", ams1.base),
                         NodeSpec("gone", "http://127.0.0.1:9"))
    text = await (await client.get("/ping", params={"target": "127.0.0.1", "nodes": "all"})).text()
    lines = text.splitlines()
    assert sum(line.startswith("[lon1] 64 bytes from 127.0.0.1") for line in lines) == 3
    assert any(line.startswith("[ams1] ERROR: ") and "127.0.0.1" in line for line in lines), lines
    assert "[gone] ERROR: Node gone is unavailable: cannot connect (connection refused)" in lines, lines
    assert not any(line.startswith("[lon1] ERROR") for line in lines)


def faulty_node(mode: str, host: str = "127.0.0.1") -> ContextManager[FakeNode]:
    """A node failing as ``mode`` says (tests/fakes/faulty_node.py), on loopback."""
    return fake_node("faulty_node.py", mode, host=host)


async def test_a_node_that_goes_silent_ends_its_part_unavailable(make_client: Any, make_settings: Any) -> None:
    with faulty_node("silent") as silent:
        client = await front(make_client, make_settings, NodeSpec("quiet", silent.url), nodes_silence_timeout=1.0)
        events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "all"}),
                               timeout=10)
    quiet = by_node(events)["quiet"]
    assert [e.event for e in quiet] == ["start", "end"]
    assert quiet[-1].data["status"] == "unavailable" and "did not answer in time" in quiet[-1].data["message"]
    assert events[-1].data["nodes"] == {"lon1": "ok", "quiet": "unavailable"}


async def test_a_node_that_hangs_up_before_answering_is_asked_once(make_client: Any, make_settings: Any) -> None:
    # It may have started the tool before the connection broke: asking again could run it twice.
    with faulty_node("hangup") as rude_node:
        client = await front(make_client, make_settings, NodeSpec("rude", rude_node.url))
        events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "rude"}),
                               timeout=10)
    asked = [line.split("?")[0] for line in rude_node.printed]
    assert asked.count("asked /api/v1/ping") == 1, asked  # (the others are the periodic check's)
    rude = by_node(events)["rude"]
    assert [e.event for e in rude] == ["start", "end"]
    assert rude[-1].data["status"] == "unavailable" and "broke off" in rude[-1].data["message"]


async def test_a_run_never_reuses_a_connection_the_node_may_have_closed(make_client: Any,
                                                                        make_settings: Any) -> None:
    # The periodic check's connection, kept open, is closed by this node as a run would reuse
    # it: on it the part would end unavailable, since a run is never asked again.
    with faulty_node("stale") as stale:
        client = await front(make_client, make_settings, NodeSpec("stale", stale.url))
        assert await eventually_async(lambda: _is_up(client, "stale"), timeout=10)
        events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "stale"}),
                               timeout=10)
    part = by_node(events)["stale"]
    assert part[-1].data["status"] == "refused" and part[-1].data["code"] == "fresh_connection", part[-1].data


async def test_what_a_node_sets_as_cookies_never_follows_into_another_run(
    make_client: Any, make_settings: Any
) -> None:
    # By name: aiohttp keeps no cookies from an address. localhost comes from /etc/hosts.
    with faulty_node("cookies", host="localhost") as baker:
        client = await front(make_client, make_settings, NodeSpec("baker", baker.url))
        assert await eventually_async(lambda: _is_up(client, "baker"), timeout=10)  # answered with a cookie
        for visitor in ("198.51.100.1", "198.51.100.2"):
            resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "baker"},
                                    headers={"X-Forwarded-For": visitor})
            assert by_node(await collect(resp, timeout=10))["baker"][-1].data["code"] == "no_cookie"


async def _is_up(client: Any, name: str) -> bool:
    nodes = (await (await client.get("/api/v1/nodes")).json())["nodes"]
    return any(node["name"] == name and node["up"] for node in nodes)


async def test_a_node_killed_mid_run_ends_its_part_unavailable(
    make_client: Any, make_settings: Any, tmp_path: Path
) -> None:
    with server_process(tmp_path / "fra1", {**NODE_ENV, "WEBTRACE_PINGCOUNT": "50"}, unix=False) as node:
        client = await front(make_client, make_settings, NodeSpec("fra1", node.base), ping_count=50)
        resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "all", "count": "16"})
        seen: list[SSE] = []
        async for event in sse_events(resp):
            seen.append(event)
            if event.event == "reply" and event.data["node"] == "fra1":
                break
        node.process.kill()
        rest = await asyncio.wait_for(collect(resp), 20)
    fra = [e for e in seen + rest if e.data.get("node") == "fra1"]
    assert fra[-1].event == "end" and fra[-1].data["status"] == "unavailable"
    assert "broke off" in fra[-1].data["message"]
    assert rest[-1].event == "done" and rest[-1].data["nodes"]["lon1"] == "ok"


async def test_a_visitor_leaving_ends_every_node_s_tool(
    make_client: Any, make_settings: Any, fra1: ServerProcess
) -> None:
    client = await front(make_client, make_settings, NodeSpec("fra1", fra1.base), ping_count=16)
    resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "all", "count": "16"})
    started: set[str] = set()
    async for event in sse_events(resp):
        if event.event == "reply":
            started.add(event.data["node"])
        if started == {"lon1", "fra1"}:
            break
    here = [p for p in tool_processes(os.getpid()) if p.pid not in {t.pid for t in tool_processes(fra1.process.pid)}]
    assert here and tool_processes(fra1.process.pid)  # a ping here, and one on the node
    resp.close()
    # Within a second, both are gone: the node's when the front closed its stream.
    assert await eventually(lambda: not tool_processes(fra1.process.pid) and not any(p.is_running() and
                            p.status() != psutil.STATUS_ZOMBIE for p in here), 1.0)


async def test_a_run_over_the_runs_a_front_may_relay_to_a_node_is_refused_at_once(
    make_client: Any, make_settings: Any, fra1: ServerProcess
) -> None:
    client = await front(make_client, make_settings, NodeSpec("fra1", fra1.base), ping_count=16,
                         max_jobs=1, max_jobs_per_client=1)
    first = await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "fra1", "count": "16"},
                             headers={"X-Forwarded-For": "198.51.100.1"})
    async for event in sse_events(first):
        if event.event == "reply":
            break
    # Another visitor's part is not left waiting for the first to end: it is told why, now.
    second = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "fra1"},
                                            headers={"X-Forwarded-For": "198.51.100.2"}), timeout=5)
    first.close()
    end = by_node(second)["fra1"][-1].data
    assert end["status"] == "refused" and end["code"] == "busy" and end["http_status"] == 503
    assert "as many runs to fra1 as it may at once (1)" in end["message"]
    assert len(tool_processes(fra1.process.pid)) <= 1  # only the first visitor's ping ran there


async def test_each_node_run_costs_the_visitor_one_run_here_and_each_visitor_has_a_budget_there(
    make_client: Any, make_settings: Any, fra1: ServerProcess, ams1: ServerProcess
) -> None:
    client = await front(make_client, make_settings, NodeSpec("fra1", fra1.base), ratelimit="4/minute")
    first = await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "all"},
                             headers={"X-Forwarded-For": "198.51.100.1"})
    assert first.headers["RateLimit-Remaining"] == "2"  # two nodes: two runs
    await collect(first)
    # ams1 allows 2 runs a minute per visitor; the front presents each visitor as themself.
    front_ams = await front(make_client, make_settings, NodeSpec("ams1", ams1.base))
    for visitor in ("198.51.100.1", "198.51.100.2"):
        for _ in range(2):
            events = await collect(await front_ams.get(
                "/api/v1/ping", params={"target": "127.0.0.1", "nodes": "ams1"}, headers={"X-Forwarded-For": visitor}))
            assert events[-1].data["nodes"]["ams1"] == "refused"
            assert events[-2].data["code"] == "target_denied"  # its policy, within its budget
        spent = await collect(await front_ams.get(
            "/api/v1/ping", params={"target": "127.0.0.1", "nodes": "ams1"}, headers={"X-Forwarded-For": visitor}))
        assert spent[-2].data["code"] == "rate_limited" and spent[-2].data["http_status"] == 429


async def test_a_run_from_several_places_is_one_result(make_client: Any, make_settings: Any,
                                                       fra1: ServerProcess) -> None:
    client = await front(make_client, make_settings, NodeSpec("fra1", fra1.base))
    resp = await client.get("/ping", params={"target": "127.0.0.1", "nodes": "all"})
    printed = await resp.text()
    result_id = resp.headers["Link"].split("/")[1].split(">")[0]
    assert await eventually(lambda: result_id not in client.app[RESULTS].live, 5)
    stored = await (await client.get(f"/api/v1/results/{result_id}")).json()
    assert stored["status"] == "ok" and stored["nodes"] == ["lon1", "fra1"]
    assert {e["data"].get("node") for e in stored["events"] if e["event"] != "done"} == {"lon1", "fra1"}
    again = await client.get(f"/api/v1/results/{result_id}", params={"format": "text"})
    assert await again.text() == printed


async def test_sigterm_of_the_front_ends_every_part_with_shutdown(tmp_path: Path, fra1: ServerProcess) -> None:
    env = {**NODE_ENV, "WEBTRACE_NODE_NAME": "lon1", "WEBTRACE_NODES": f"fra1={fra1.base}", "WEBTRACE_PINGCOUNT": "16"}
    (tmp_path / "front").mkdir()
    async with running_server(tmp_path / "front", env) as server:
        resp = await server.session.get(f"{server.base}/api/v1/ping",
                                        params={"target": "127.0.0.1", "nodes": "all", "count": "16"})
        replied: set[str] = set()
        async for event in sse_events(resp):
            if event.event == "reply":
                replied.add(event.data["node"])
            if replied == {"lon1", "fra1"}:
                break
        server.process.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(collect(resp), 15)
    ends = {e.data["node"]: e.data["status"] for e in rest if e.event == "end"}
    assert ends == {"lon1": "shutdown", "fra1": "shutdown"}
    assert rest[-1].event == "done" and rest[-1].data["status"] == "failed"
    assert await eventually(lambda: not tool_processes(fra1.process.pid), 2.0)


async def test_the_access_log_names_how_a_run_from_several_nodes_ended(tmp_path: Path) -> None:
    env = {**NODE_ENV, "WEBTRACE_NODE_NAME": "lon1", "WEBTRACE_NODES": "gone=http://127.0.0.1:9"}
    (tmp_path / "front").mkdir()
    async with running_server(tmp_path / "front", env) as server:
        for nodes in ("all", "lon1"):
            await collect(await server.session.get(f"{server.base}/api/v1/ping",
                                                   params={"target": "127.0.0.1", "nodes": nodes}))
        await stopped(server)
    lines = [line for line in server.log.read_text().splitlines() if "/api/v1/ping" in line]
    assert len(lines) == 2 and "run=partial" in lines[0] and "run=ok" in lines[1], lines


async def test_a_node_that_never_started_prints_its_error_line_and_no_report(
    make_client: Any, make_settings: Any
) -> None:
    client = await front(make_client, make_settings, NodeSpec("gone", "http://127.0.0.1:9"), mtr_count=2)
    text = await (await client.get("/mtr", params={"target": "127.0.0.1", "nodes": "all", "count": "2"})).text()
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("[gone] ")] == [
        "[gone] ERROR: Node gone is unavailable: cannot connect (connection refused)"]
    assert any(line.startswith("[lon1] HOST: lon1") for line in lines), lines  # the part that ran has its report


async def test_a_run_from_several_places_reads_in_other_formats_a_place_at_a_time(
        make_client: Any, make_settings: Any, fra1: ServerProcess) -> None:
    client = await front(make_client, make_settings, NodeSpec("fra1", fra1.base), mtr_count=2)
    events = await collect(await client.get("/api/v1/mtr", params={"target": "127.0.0.1", "nodes": "all"}))
    result_id = events[0].data["result"]
    assert await eventually(lambda: result_id not in client.app[RESULTS].live, 5)

    async def read(fmt: str) -> bytes:
        resp = await client.get(f"/api/v1/results/{result_id}", params={"format": fmt})
        assert resp.status == 200
        return await resp.read()

    strict = {"on_error": AtlasResult.ACTION_FAIL, "on_malformation": AtlasResult.ACTION_FAIL}
    objects = json.loads(await read("atlas"))
    assert [(o["prb_id"], o["webtrace"]["node"]) for o in objects] == [(1, "lon1"), (2, "fra1")]
    for obj in objects:
        assert AtlasResult.get(obj, **strict).ip_path[-1][0] == "127.0.0.1"
    assert [r["report"]["mtr"]["src"] for r in json.loads(await read("mtr-json"))] == ["lon1", "fra1"]
    rows = list(csv.DictReader(io.StringIO((await read("csv")).decode())))
    assert [(r["node"], r["address"]) for r in rows] == [("lon1", "127.0.0.1"), ("fra1", "127.0.0.1")]


async def test_a_continuous_run_from_several_places_pays_on_each_node_and_ends_there(
        make_client: Any, make_settings: Any, tmp_path: Path) -> None:
    # fra1's budget pays its part's start and one slice of 1 s; the front's own part runs its most, 2 s.
    env = {**NODE_ENV, "WEBTRACE_NODE_NAME": "fra1", "WEBTRACE_TIMEOUT": "1", "WEBTRACE_RATELIMIT": "2/minute",
           "WEBTRACE_MTRCOUNT": "3", "WEBTRACE_CONTINUOUS_MAX": "60"}
    with server_process(tmp_path / "fra1", env, unix=False) as fra1:
        client = await front(make_client, make_settings, NodeSpec("fra1", fra1.base), continuous_max=2, timeout=5)
        resp = await client.get("/api/v1/ping",
                                params={"target": "127.0.0.1", "nodes": "all", "continuous": "true"})
        assert resp.headers["RateLimit-Remaining"] == str(1000 - 2)  # a run per node, here, to begin with
        events = await collect(resp)
        parts = by_node(events)
        assert all(part[0].data["continuous"] is True for part in parts.values())
        assert parts["lon1"][-1].data["status"] == "timeout"
        assert parts["lon1"][-1].data["message"] == "ping ran for 2 s, the most a continuous run may here"
        assert parts["fra1"][-1].data["status"] == "limit"
        assert "budget of 2 per 1 minute" in parts["fra1"][-1].data["message"]
        assert {e.data["max_s"] for e in parts["fra1"] if e.event == "progress"} == {60}
        # Running its most is how a continuous part should end; a spent budget is not.
        assert events[-1].data == {"status": "partial", "nodes": {"lon1": "timeout", "fra1": "limit"}}
        assert await eventually(lambda: not tool_processes(fra1.process.pid), 2.0)


async def test_a_stream_waiting_on_its_nodes_has_its_headers_at_once(make_client: Any, make_settings: Any) -> None:
    # A stream's headers wait for its first event of the same turn; a run from nodes has none
    # until a node answers, and one that never accepts takes its whole connect timeout.
    with faulty_node("full") as full:
        client = await front(make_client, make_settings, NodeSpec("full", full.url))
        resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1", "nodes": "full"})
        assert resp.status == 200 and resp.content.total_bytes == 0  # headers, and nothing of the part yet
        events = await collect(resp, timeout=10)
    assert [e.event for e in events] == ["start", "end", "done"]
    assert events[1].data["status"] == "unavailable"
