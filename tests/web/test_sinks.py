"""The sinks: the SSE sink and the text sink each take either kind of source (a run
here, a run from several nodes), and record it for its result in one place, so a
result holds exactly what its visitor was sent."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.conftest import LOOPBACK_SETTINGS
from tests.helpers import collect, eventually
from webtrace.web.keys import RESULTS

SETTINGS = dataclasses.replace(LOOPBACK_SETTINGS, results="memory://", node_name="lon1")


@pytest.mark.parametrize("nodes", [None, "all"], ids=["here", "several"])
async def test_the_sse_sink_sends_what_it_records(make_client: Any, nodes: str | None) -> None:
    client = await make_client(SETTINGS)
    params = {"target": "127.0.0.1", **({"nodes": nodes} if nodes else {})}
    events = await collect(await client.get("/api/v1/ping", params=params))
    result_id = events[0].data["result"]
    assert result_id and all(e.data["result"] == result_id for e in events if e.event == "start")
    await eventually(lambda: result_id not in client.app[RESULTS].live, 5)
    stored = await (await client.get(f"/api/v1/results/{result_id}")).json()
    assert [(int(e.id or 0), e.event, e.data) for e in events] == [
        (e["id"], e["event"], e["data"]) for e in stored["events"]]
    assert events[-1].event == ("done" if nodes else "end")


@pytest.mark.parametrize("nodes", [None, "all"], ids=["here", "several"])
async def test_the_text_sink_prints_what_its_result_prints_again(make_client: Any, nodes: str | None) -> None:
    client = await make_client(SETTINGS)
    params = {"target": "127.0.0.1", **({"nodes": nodes} if nodes else {})}
    resp = await client.get("/mtr", params=params)
    printed = await resp.text()
    result_id = resp.headers["Link"].split("/")[1].split(">")[0]
    await eventually(lambda: result_id not in client.app[RESULTS].live, 5)
    again = await (await client.get(f"/api/v1/results/{result_id}", params={"format": "text"})).text()
    assert printed == again and "HOST: lon1" in printed
    assert all(line.startswith("[lon1] ") for line in printed.splitlines()) == bool(nodes)
