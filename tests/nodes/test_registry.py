"""The vantage points: WEBTRACE_NODES, and /api/v1/nodes kept by a periodic check of
real webtrace processes (never by a visitor's request)."""

from __future__ import annotations

import logging
import re
import socket
import time
from datetime import datetime, timezone
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import free_port, eventually_async
from tests.server import ServerProcess, server_process
from webtrace.settings import NodeSpec, Settings, SettingsError


def test_nodes_are_name_url_pairs() -> None:
    nodes = " fra1=https://fra1.lg.example.net/ , AMS-2=http://10.0.0.2:8080/lg"
    settings = Settings.from_env({"WEBTRACE_NODES": nodes, "WEBTRACE_NODE_NAME": "lon1"})
    assert settings.nodes == (NodeSpec("fra1", "https://fra1.lg.example.net"),
                              NodeSpec("ams-2", "http://10.0.0.2:8080/lg"))
    assert settings.node_name == "lon1"


@pytest.mark.parametrize(("env", "says"), [
    ({"WEBTRACE_NODES": "fra1"}, "is not name=URL"),
    ({"WEBTRACE_NODES": "=https://a.example"}, "has no name"),
    ({"WEBTRACE_NODES": "fra 1=https://a.example"}, "must be up to 32 letters"),
    ({"WEBTRACE_NODES": "fra1=ftp://a.example"}, "is not a base URL"),
    ({"WEBTRACE_NODES": "fra1=https://a.example/?x=1"}, "is not a base URL"),
    ({"WEBTRACE_NODES": "fra1=https://a.example,fra1=https://b.example"}, "given twice"),
    ({"WEBTRACE_NODES": "lon1=https://a.example", "WEBTRACE_NODE_NAME": "lon1"}, "this server's own"),
])
def test_a_bad_node_list_stops_start_up_with_its_setting(env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert "WEBTRACE_NODES" in str(caught.value) and says in str(caught.value)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"WEBTRACE_NODE_NAME": "fra1", "WEBTRACE_SERVERINFO": "Frankfurt, AS64500"}
    with server_process(tmp_path, env, unix=False) as server:
        yield server


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


async def test_this_server_alone(client: Any) -> None:
    body = await (await client.get("/api/v1/nodes")).json()
    [me] = body["nodes"]
    assert me["local"] and me["up"] and me["tools"] == ["mtr", "traceroute", "ping", "tracepath"] and me["info"] is None


async def test_other_nodes_are_up_or_down_as_the_periodic_check_finds_them(
    make_client: Any, make_settings: Any, node: ServerProcess, silent_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    nodes = (NodeSpec("fra1", node.base), NodeSpec("ams1", f"http://127.0.0.1:{free_port()}"),
             NodeSpec("nyc1", f"http://127.0.0.1:{silent_port}"))
    with caplog.at_level(logging.INFO, logger="webtrace.nodes.registry"):
        client = await make_client(make_settings(node_name="lon1", server_info="London", nodes=nodes,
                                                 nodes_check_interval=0.2))

        async def listed() -> dict[str, dict[str, Any]]:
            # Answered at once, whatever the nodes do: a visitor never waits on a check.
            asked = time.monotonic()
            body = await (await client.get("/api/v1/nodes")).json()
            assert time.monotonic() - asked < 1
            return {n["name"]: n for n in body["nodes"]}

        async def fra1_up() -> bool:
            return bool((await listed())["fra1"]["up"])

        assert await eventually_async(fra1_up, 10)
        found = await listed()
        assert list(found) == ["lon1", "fra1", "ams1", "nyc1"]
        assert found["lon1"] == {"name": "lon1", "info": "London", "local": True, "up": True, "down_since": None,
                                 "tools": ["mtr", "traceroute", "ping", "tracepath"]}
        assert found["fra1"] == {"name": "fra1", "info": "Frankfurt, AS64500", "local": False, "up": True,
                                 "down_since": None, "tools": ["mtr", "traceroute", "ping", "tracepath"]}
        assert not found["ams1"]["up"] and not found["nyc1"]["up"]
        assert datetime.fromisoformat(found["ams1"]["down_since"]) <= datetime.now(timezone.utc)
        # /check names the nodes found down: the run would start, their parts end unavailable.
        checked = await client.get("/api/v1/ping/check", params={"target": "127.0.0.1", "nodes": "lon1,fra1,ams1"})
        assert checked.status == 200
        said = await checked.json()
        assert [n["name"] for n in said["down"]] == ["ams1"]
        assert re.fullmatch(r"Node ams1 is down since \d{4}-\d\d-\d\d \d\d:\d\d UTC: cannot connect.*\.",
                            said["message"]), said
        all_up = await client.get("/api/v1/ping/check", params={"target": "127.0.0.1", "nodes": "lon1,fra1"})
        assert all_up.status == 204

        node.stop()

        async def fra1_down() -> bool:
            return not (await listed())["fra1"]["up"]

        assert await eventually_async(fra1_down, 10)
    said = [r.getMessage() for r in caplog.records]
    assert sum("node fra1" in m and "is down" in m for m in said) == 1  # once, not once a check
    assert sum("node ams1" in m and "cannot connect" in m for m in said) == 1
    assert sum("node nyc1" in m and "did not answer in time" in m for m in said) <= 1
