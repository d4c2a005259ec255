"""The application factory: what it wires, and a new tool added as one record."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

from tests.helpers import collect, tool_processes
from webtrace import create_app
from webtrace.web.keys import TOOLS as TOOLS_KEY


async def test_tracepath_a_record_and_a_parser_runs_everywhere(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    events = await collect(await client.get("/api/v1/tracepath", params={"target": "127.0.0.1"}))
    assert events[0].event == "start" and events[0].data["command"].startswith("tracepath -n -4 -m 30 127.0.0.1")
    assert events[0].data["protocol"] == "udp"  # tracepath's only one
    assert any(e.event == "line" and "reached" in e.data["text"] for e in events)
    [hop] = [e.data for e in events if e.event == "hop"]
    assert hop["hop"] == 1 and hop["hosts"][0]["address"] == "127.0.0.1" and hop["received"] == 1
    [summary] = [e.data for e in events if e.event == "summary"]
    assert summary == {"pmtu": 65535, "hops": 1, "back": 1}  # loopback's MTU
    assert events[-1].event == "end" and events[-1].data["status"] == "ok"

    text = await (await client.get("/tracepath", params={"target": "::1", "aftype": "ipv6"})).text()
    assert "reached" in text and "Resume: pmtu 65536" in text and "ERROR" not in text

    page = await (await client.get("/", params={"tool": "tracepath", "target": "127.0.0.1"})).text()
    assert re.search(r'<input type="radio" name="tool" value="tracepath" checked>', page)
    config = json.loads(re.search(r"data-config='([^']*)'", page).group(1))  # type: ignore[union-attr]
    assert [t["name"] for t in config["tools"]] == ["mtr", "traceroute", "ping", "tracepath"]
    assert config["tools"][-1]["text_route"] == "tracepath" and "pmtu" in config["tools"][-1]["columns"]
    assert tool_processes(os.getpid()) == []


async def test_the_tools_offered_follow_the_platform(make_client: Callable[..., Any]) -> None:
    client = await make_client(platform="win32")
    assert list(client.server.app[TOOLS_KEY]) == ["traceroute", "ping"]
    assert (await client.get("/api/v1/mtr/check", params={"target": "127.0.0.1"})).status == 404
    assert (await client.get("/mtr", params={"target": "127.0.0.1"})).status == 404
    resp = await client.get("/api/v1/tracepath", params={"target": "127.0.0.1"})  # no tracepath on Windows
    assert resp.status == 404 and "tracepath" in (await resp.json())["error"]["message"]


def test_every_route_is_named_and_run_routes_take_no_head() -> None:
    app = create_app()
    routes = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    for path in ("/api/v1/{tool}", "/api/v1/{tool}/check"):
        assert ("GET", path) in routes and ("HEAD", path) not in routes
    [text] = [r.resource for r in app.router.routes() if r.name == "text_run" and r.resource is not None]
    pattern = text.get_info()["pattern"]
    assert [p for p in ("/mtr", "/trace", "/ping", "/traceroute", "/tracepath", "/nmap") if pattern.fullmatch(p)] == [
        "/mtr", "/trace", "/ping", "/tracepath"]
    assert ("HEAD", "/") in routes and ("GET", "/healthz") in routes and ("GET", "/metrics") in routes
