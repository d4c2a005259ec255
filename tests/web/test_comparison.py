"""Two results against each other through HTTP (``/api/v1/compare/{a}/{b}`` and the
page ``/compare/{a}/{b}``), from runs of the real tools on loopback."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import collect
from tests.web.test_results import stored


@pytest.fixture
async def client(make_client: Any, make_settings: Any, tmp_path: Path) -> Any:
    return await make_client(make_settings(results=f"sqlite:///{tmp_path}/results.sqlite3", mtr_count=2,
                                           ping_count=3))


async def a_result(client: Any, tool: str, target: str = "127.0.0.1") -> str:
    events = await collect(await client.get(f"/api/v1/{tool}", params={"target": target}))
    result_id = str(events[0].data["result"])
    await stored(client, result_id)
    return result_id


async def compared(client: Any, a: str, b: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/compare/{a}/{b}")
    assert resp.status == 200, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def test_two_mtr_runs_to_loopback_are_the_same_path_and_swapping_negates_the_changes(client: Any) -> None:
    a, b = await a_result(client, "mtr"), await a_result(client, "mtr")
    forward, back = await compared(client, a, b), await compared(client, b, a)
    assert forward["verdict"].startswith("Same path; at the target avg ") and not forward["running"]
    assert (forward["a"]["id"], forward["b"]["id"], forward["tool"]) == (a, b, "mtr")
    [place] = forward["places"]
    assert place["same_path"] and [hop["state"] for hop in place["hops"]] == ["same"]
    assert place["hops"][0]["a"][0]["address"] == "127.0.0.1"
    change = place["hops"][0]["avg_ms"]["change"]
    assert back["places"][0]["hops"][0]["avg_ms"]["change"] == -change


async def test_two_pings_compare_their_statistics_and_series(client: Any) -> None:
    a, b = await a_result(client, "ping"), await a_result(client, "ping", "::1")
    found = await compared(client, a, b)
    [place] = found["places"]
    assert place["statistics"]["transmitted"] == {"a": 3, "b": 3, "change": 0}
    assert [p["seq"] for p in place["series"]["a"]] == [1, 2, 3] == [p["seq"] for p in place["series"]["b"]]
    assert re.fullmatch(r"Avg [+-]\d+\.\d ms, loss 0 % -> 0 %\.", found["verdict"])


async def test_different_tools_unknown_and_malformed_ids_are_refused_with_a_sentence(client: Any) -> None:
    ping, mtr = await a_result(client, "ping"), await a_result(client, "mtr")
    resp = await client.get(f"/api/v1/compare/{ping}/{mtr}")
    assert resp.status == 400
    assert (await resp.json())["error"]["message"] == (
        "a ping result and a mtr result cannot be compared: compare two results of the same tool")
    missing = "A" * 22
    resp = await client.get(f"/api/v1/compare/{ping}/{missing}")
    assert resp.status == 404 and missing in (await resp.json())["error"]["message"]
    resp = await client.get(f"/api/v1/compare/nope/{ping}")
    assert resp.status == 404 and "'nope' is not a result's id" in (await resp.json())["error"]["message"]
    page = await client.get(f"/compare/{ping}/{missing}")
    assert page.status == 404 and missing in await page.text() and page.content_type == "text/html"


async def test_the_page_carries_the_comparison_for_its_script(client: Any) -> None:
    a, b = await a_result(client, "ping"), await a_result(client, "ping")
    page = await client.get(f"/compare/{a}/{b}")
    assert page.status == 200
    html = await page.text()
    config = json.loads(re.search(r"data-config='([^']*)'", html).group(1))  # type: ignore[union-attr]
    assert config["comparison"]["a"]["id"] == a and config["comparison"]["verdict"].startswith("Avg ")
    assert config["root"] == "../../"


async def test_comparing_spends_the_results_budget_not_the_runs(make_client: Any, make_settings: Any,
                                                                tmp_path: Path) -> None:
    client = await make_client(make_settings(results=f"sqlite:///{tmp_path}/r.sqlite3", ping_count=1,
                                             results_ratelimit="4/minute", ratelimit="2/minute"))
    a, b = await a_result(client, "ping"), await a_result(client, "ping")  # the whole run budget
    statuses = [(await client.get(f"/api/v1/compare/{a}/{b}")).status for _ in range(3)]
    assert statuses == [200, 200, 429]  # the two reads of stored() spent the other two
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/compare/{a}/{b}" in doc["paths"] and "/compare/{a}/{b}" in doc["paths"]
