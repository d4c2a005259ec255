"""A node is trusted less than a local tool: whatever another webtrace sends is
checked before it reaches the recorder, a sink or a terminal, and costs only its
own part (issue: holes found by probing vantage points). Each node here is a real
process that misbehaves on purpose (tests/fakes/lying_node.py); this test's app
is the front, and its own part is a real ping."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.helpers import SSE, FakeNode, collect, eventually, eventually_async, fake_node
from webtrace.settings import NodeSpec
from webtrace.web.keys import NODES, RESULTS

PING = {"target": "127.0.0.1", "nodes": "all"}


@contextmanager
def lying_node(mode: str, *args: str) -> Iterator[FakeNode]:
    with fake_node("lying_node.py", mode, *args) as node:
        yield node


async def front(make_client: Any, make_settings: Any, node: FakeNode, **changes: Any) -> Any:
    settings = {"node_name": "lon1", "nodes": (NodeSpec("liar", node.url),), "ping_count": 3, **changes}
    return await make_client(make_settings(**settings))


def part(events: list[SSE], node: str) -> list[SSE]:
    return [e for e in events if e.event != "done" and e.data["node"] == node]


def own_part_ok(events: list[SSE]) -> None:
    """This server's own part ran to its end, and the whole run said done."""
    lon1 = part(events, "lon1")
    assert lon1[0].event == "start" and lon1[-1].event == "end" and lon1[-1].data["status"] == "ok"
    assert [e.data["seq"] for e in lon1 if e.event == "reply"] == [1, 2, 3]
    assert events[-1].event == "done" and events[-1].data["nodes"]["lon1"] == "ok"


@pytest.mark.parametrize("mode", ["done-empty", "done-forged"])
async def test_item_1_a_node_s_done_is_dropped(make_client: Any, make_settings: Any, mode: str) -> None:
    with lying_node(mode) as liar:
        client = await front(make_client, make_settings, liar)
        resp = await client.get("/api/v1/ping", params=PING)
        events = await collect(resp, timeout=15)
    own_part_ok(events)
    assert [e.event for e in events].count("done") == 1  # ours, at the end; the node's went nowhere
    liar_part = part(events, "liar")
    assert liar_part[-1].event == "end" and liar_part[-1].data["status"] == "ok"
    assert events[-1].data == {"status": "ok", "nodes": {"lon1": "ok", "liar": "ok"}}
    result_id = events[0].data["result"]
    assert await eventually(lambda: result_id not in client.app[RESULTS].live, 5)
    stored = await (await client.get(f"/api/v1/results/{result_id}")).json()
    assert stored["status"] == "ok" and [e["event"] for e in stored["events"]].count("done") == 1


async def test_item_1_a_newer_node_s_fields_are_dropped_and_its_part_goes_on(
    make_client: Any, make_settings: Any
) -> None:
    with lying_node("newer") as liar:
        client = await front(make_client, make_settings, liar)
        events = await collect(await client.get("/api/v1/ping", params=PING), timeout=15)
        result_id = events[0].data["result"]
        assert await eventually(lambda: result_id not in client.app[RESULTS].live, 5)
        stored = await (await client.get(f"/api/v1/results/{result_id}")).json()
    own_part_ok(events)
    liar_part = part(events, "liar")
    assert [e.event for e in liar_part] == ["start", "line", "reply", "end"]
    assert liar_part[-1].data["status"] == "ok" and events[-1].data["nodes"] == {"lon1": "ok", "liar": "ok"}
    for event in liar_part:
        assert not {"vantage", "stream", "tos", "signal"} & set(event.data), event
    assert liar_part[2].data == {"seq": 1, "rtt_ms": 0.05, "ttl": 64, "host": "127.0.0.1", "lost": False,
                                 "node": "liar"}
    kept = [e for e in stored["events"] if e["data"].get("node") == "liar"]
    assert [e["event"] for e in kept] == ["start", "line", "reply", "end"]
    assert not any({"vantage", "stream", "tos", "signal"} & set(e["data"]) for e in kept)


@pytest.mark.parametrize(("mode", "kind"), [("end-without-status", "end"), ("line-without-text", "line")])
async def test_item_1_a_malformed_event_ends_that_part_alone(make_client: Any, make_settings: Any, mode: str,
                                                             kind: str) -> None:
    with lying_node(mode) as liar:
        client = await front(make_client, make_settings, liar)
        events = await collect(await client.get("/api/v1/ping", params=PING), timeout=15)
        text = await (await client.get("/ping", params=PING)).text()
    own_part_ok(events)
    end = part(events, "liar")[-1]
    assert end.event == "end" and end.data["status"] == "unavailable"
    assert f"Node liar is unavailable: it sent a malformed {kind} event" in end.data["message"]
    assert events[-1].data["nodes"] == {"lon1": "ok", "liar": "unavailable"}
    # The text stream is whole: every line of this server's ping, the node's sentence, to the end.
    lines = text.splitlines()
    assert sum(line.startswith("[lon1] 64 bytes from 127.0.0.1") for line in lines) == 3
    assert any(line.startswith(f"[liar] ERROR: Node liar is unavailable: it sent a malformed {kind}")
               for line in lines), lines
    assert any(line.startswith("[lon1] rtt ") or "packet loss" in line for line in lines), lines


async def test_item_2_a_bug_in_one_part_ends_it_alone(make_client: Any, make_settings: Any,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    # A bug cannot be asked of a real node: one is put where a node's events are read.
    from webtrace.nodes import relay

    def broken(kind: str, data: Any) -> Any:
        raise RuntimeError("a bug in reading a node's events")

    monkeypatch.setattr(relay, "node_event", broken)
    with lying_node("done-empty") as liar:
        client = await front(make_client, make_settings, liar)
        with caplog.at_level(logging.ERROR):
            events = await collect(await client.get("/api/v1/ping", params=PING), timeout=15)
    own_part_ok(events)
    end = part(events, "liar")[-1]
    assert end.data["status"] == "unavailable" and "part failed on this server" in end.data["message"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None and "liar" in errors[0].getMessage()


CONTROLS = ("\x1b", "\x07", "\r", "\x00", "\x9b", "\x7f")


def assert_terminal_safe(text: str) -> None:
    assert not any(c in text for c in CONTROLS), repr(text)
    for line in text.split("\n"):
        # Every line is one node's, and only webtrace's own closing lines begin ERROR:.
        assert line == "" or line.startswith(("[lon1] ", "[liar] ")), repr(line)
        if line.startswith("[lon1] "):
            assert "forged" not in line, line


@pytest.mark.parametrize("mode", ["hostile", "hostile-refusal"])
async def test_item_3_nothing_from_a_node_reaches_a_terminal_raw(
    make_client: Any, make_settings: Any, mode: str
) -> None:
    with lying_node(mode) as liar:
        client = await front(make_client, make_settings, liar)
        resp = await client.get("/ping", params=PING)
        live = await resp.text()
        result_id = resp.headers["Link"].split("/")[1].split(">")[0]
        assert await eventually(lambda: result_id not in client.app[RESULTS].live, 5)
        stored = await (await client.get(f"/api/v1/results/{result_id}", params={"format": "text"})).text()
    for text in (live, stored):
        assert_terminal_safe(text)
        liar_lines = [line for line in text.splitlines() if line.startswith("[liar] ")]
        assert liar_lines[-1].startswith("[liar] ERROR: \\x1b[31mred\\x07bell\\x0dback\\x00nul\\x9bcsi\\x7fdel"
                                         "\\x0a[lon1] ERROR: forged"), liar_lines
    assert stored == live


@pytest.mark.parametrize("mode", ["trickle", "endless"])
async def test_item_4_a_part_always_ends(make_client: Any, make_settings: Any, mode: str) -> None:
    with lying_node(mode) as liar:
        client = await front(make_client, make_settings, liar, timeout=1.0, resolve_timeout=0.5, name_timeout=0.5,
                             nodes_silence_timeout=30.0)
        deadline = client.app[NODES].part_deadline
        assert deadline == 1.0 + 3.0 + 0.5 + 0.5 + 2.0  # the tool's limit, connecting, the node's start and end
        began = time.monotonic()
        events = await collect(await client.get("/api/v1/ping", params={**PING, "count": "1"}), timeout=30)
        took = time.monotonic() - began
    end = part(events, "liar")[-1]
    assert end.event == "end" and end.data["status"] == "unavailable"
    assert f"it did not end its run within {deadline:g} s" in end.data["message"]
    assert events[-1].event == "done" and events[-1].data["nodes"]["lon1"] == "ok"
    assert deadline <= took < deadline + 5
    assert client.app[NODES]._parts == {"liar": 0}  # its place for another run is given back


async def test_item_5_redirects_are_not_followed(make_client: Any, make_settings: Any) -> None:
    with lying_node("catcher") as catcher, lying_node("redirect", catcher.url) as liar:
        client = await front(make_client, make_settings, liar, nodes_check_interval=0.2)
        events = await collect(await client.get("/api/v1/ping", params=PING,
                                                headers={"X-Forwarded-For": "198.51.100.7"}), timeout=15)
        end = part(events, "liar")[-1].data
        assert end["status"] == "refused" and end["code"] == "redirect" and end["http_status"] == 302
        assert "answered with a redirect (302)" in end["message"]

        async def down() -> bool:
            nodes = (await (await client.get("/api/v1/nodes")).json())["nodes"]
            return any(n["name"] == "liar" and not n["up"] for n in nodes)

        assert await eventually_async(down, 5)
        assert "redirect" in (client.app[NODES].named("liar").why_down or "")
    own_part_ok(events)
    assert catcher.printed == []  # neither the run nor the check (nor the visitor's address) went there


@pytest.mark.parametrize("mode", ["big-pieces", "big-whole"])
async def test_item_9_a_node_s_long_events_arrive_whole(make_client: Any, make_settings: Any, mode: str) -> None:
    with lying_node(mode) as liar:
        client = await front(make_client, make_settings, liar, results="off")
        body = await (await client.get("/api/v1/ping", params=PING)).read()  # lines longer than aiohttp reads
    frames = [frame.split(b"\r\n") for frame in body.split(b"\r\n\r\n") if b"\r\ndata: " in frame]
    events = [(f[1].removeprefix(b"event: ").decode(), json.loads(f[2].removeprefix(b"data: "))) for f in frames]
    liar_events = [(kind, data) for kind, data in events if data.get("node") == "liar"]
    assert [data["text"] for kind, data in liar_events if kind == "line"] == ["x" * (1024 * 1024 - 8 * 1024)]
    assert liar_events[-1][0] == "end" and liar_events[-1][1]["status"] == "ok"
