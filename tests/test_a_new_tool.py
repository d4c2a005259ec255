"""A tool is known only by its record: one added with no other edit runs through the
API, its text route, a result and the API's description (the page: tests/browser)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.conftest import LOOPBACK_SETTINGS
from tests.helpers import collect, eventually
from tests.new_tool import WITH_HELLO
from webtrace.web.keys import RESULTS

SAID = "webtrace says hello to 127.0.0.1"


async def test_a_new_record_runs_everywhere_a_tool_does(make_client: Any) -> None:
    client = await make_client(dataclasses.replace(LOOPBACK_SETTINGS, results="memory://"), tools=WITH_HELLO)
    events = await collect(await client.get("/api/v1/hello", params={"target": "127.0.0.1"}))
    assert [e.event for e in events] == ["start", "line", "end"]
    assert events[0].data["command"] == "echo 'webtrace says hello to' 127.0.0.1"
    assert events[1].data["text"] == SAID and events[-1].data["status"] == "ok"

    text = await client.get("/hello", params={"target": "127.0.0.1"})
    assert await text.text() == f"{SAID}\n"
    refused = await client.get("/hello", params={"target": "127.0.0.1", "count": "3"})
    assert refused.status == 400 and (await refused.text()) == "ERROR: count means nothing for hello: leave it out\n"

    result_id = events[0].data["result"]
    await eventually(lambda: result_id not in client.app[RESULTS].live, 5)
    stored = await (await client.get(f"/api/v1/results/{result_id}")).json()
    assert stored["tool"] == "hello" and stored["status"] == "ok"
    again = await client.get(f"/api/v1/results/{result_id}", params={"format": "text"})
    assert await again.text() == f"{SAID}\n"

    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert "hello" in doc["paths"]["/api/v1/{tool}"]["get"]["parameters"][0]["schema"]["enum"]
    assert "/hello" in doc["paths"]
