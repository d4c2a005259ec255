"""Results through HTTP: ids, reading (JSON, text, page), following live, and the
budgets; with the real tools, in memory and in a real SQLite file."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SSE, collect, eventually, sse_events
from webtrace.web.keys import RESULTS

ID = re.compile(r"[A-Za-z0-9_-]{22}")


@pytest.fixture(params=["memory", "sqlite"])
async def client(request: pytest.FixtureRequest, make_client: Any, make_settings: Any, tmp_path: Path) -> Any:
    uri = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/results.sqlite3"
    return await make_client(make_settings(results=uri, mtr_count=5))


async def stored(client: Any, result_id: str) -> dict[str, Any]:
    """The result once its end is stored (writes are batched: a moment after the stream ended)."""
    results = client.app[RESULTS]
    assert await eventually(lambda: result_id not in results.live, 5)
    resp = await client.get(f"/api/v1/results/{result_id}")
    assert resp.status == 200, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(("tool", "target"), [("ping", "127.0.0.1"), ("traceroute", "::1"), ("mtr", "127.0.0.1")])
async def test_a_run_is_a_result_with_every_event_it_sent(client: Any, tool: str, target: str) -> None:
    events = await collect(await client.get(f"/api/v1/{tool}", params={"target": target}))
    result_id = events[0].data["result"]
    assert ID.fullmatch(result_id)
    result = await stored(client, result_id)
    assert result["id"] == result_id and result["tool"] == tool and result["target"] == target
    assert result["status"] == "ok" and not result["cut"] and not result["incomplete"]
    assert result["node"] and result["started_at"].endswith("Z") and result["ended_at"] > result["started_at"]
    assert result["command"] == events[0].data["command"]
    assert [(e["id"], e["event"], e["data"]) for e in result["events"]] == [
        (int(e.id or 0), e.event, e.data) for e in events]


@pytest.mark.parametrize(("route", "target"), [("/ping", "127.0.0.1"), ("/trace", "::1"), ("/mtr", "127.0.0.1")])
async def test_the_text_of_a_result_is_what_its_text_route_printed(client: Any, route: str, target: str) -> None:
    resp = await client.get(route, params={"target": target})
    printed = await resp.text()
    link = re.fullmatch(r'<r/([A-Za-z0-9_-]{22})>; rel="bookmark"', resp.headers["Link"])
    assert link is not None
    await stored(client, link[1])
    again = await client.get(f"/api/v1/results/{link[1]}", params={"format": "text"})
    assert again.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert await again.read() == printed.encode()


async def test_the_text_of_an_sse_run_is_its_text_route_s(client: Any) -> None:
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"}))
    await stored(client, events[0].data["result"])
    text = await (await client.get(f"/api/v1/results/{events[0].data['result']}", params={"format": "text"})).text()
    assert text.splitlines() == [e.data["text"] for e in events if e.event == "line"]


async def test_refused_requests_create_nothing(client: Any) -> None:
    for params in ({"target": "192.0.2.1"}, {"target": "not a host!"}, {"target": "127.0.0.1", "count": "0"}):
        resp = await client.get("/api/v1/ping", params=params)
        assert resp.status in (400, 403)
    metrics = await (await client.get("/metrics")).text()
    assert "webtrace_results_written_total 0.0" in metrics and "webtrace_results_recording 0.0" in metrics


async def test_unknown_and_malformed_ids_are_404_with_a_sentence(client: Any) -> None:
    for path in ("/api/v1/results/AAAAAAAAAAAAAAAAAAAAAA", "/api/v1/results/nope",
                 "/api/v1/results/AAAAAAAAAAAAAAAAAAAAAA/events"):
        resp = await client.get(path)
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "result_not_found"
    page = await client.get("/r/AAAAAAAAAAAAAAAAAAAAAA")
    assert page.status == 404 and "no such result" in await page.text()


async def test_a_second_viewer_follows_a_running_mtr_live_and_sees_its_end(client: Any) -> None:
    first = await client.get("/api/v1/mtr", params={"target": "127.0.0.1", "count": "5"})
    seen: list[SSE] = []
    async for event in sse_events(first):
        seen.append(event)
        if event.event == "hop":
            break
    follower = await client.get(f"/api/v1/results/{seen[0].data['result']}/events")
    assert follower.status == 200 and follower.headers["Content-Type"] == "text/event-stream"
    rest = await collect(first)
    followed = await collect(follower)
    everything = seen + rest
    assert [(f.id, f.event, f.data) for f in followed] == [(e.id, e.event, e.data) for e in everything]
    assert followed[-1].event == "end" and followed[-1].data["status"] == "ok"


async def test_last_event_id_resumes_after_it_missing_nothing_repeating_nothing(client: Any) -> None:
    events = await collect(await client.get("/api/v1/mtr", params={"target": "127.0.0.1", "count": "2"}))
    result_id = events[0].data["result"]
    await stored(client, result_id)
    middle = len(events) // 2
    resumed = await collect(await client.get(f"/api/v1/results/{result_id}/events",
                                             headers={"Last-Event-ID": str(middle)}))
    assert [int(e.id or 0) for e in resumed] == list(range(middle + 1, len(events) + 1))
    by_query = await collect(await client.get(f"/api/v1/results/{result_id}/events",
                                              params={"last_event_id": str(middle)}))
    assert [e.id for e in by_query] == [e.id for e in resumed]
    # Nothing after the last: 204, so an EventSource stops reconnecting.
    done = await client.get(f"/api/v1/results/{result_id}/events", headers={"Last-Event-ID": str(len(events))})
    assert done.status == 204
    bad = await client.get(f"/api/v1/results/{result_id}/events", headers={"Last-Event-ID": "x1"})
    assert bad.status == 400


async def test_the_run_belongs_to_its_first_visitor(client: Any) -> None:
    first = await client.get("/api/v1/mtr", params={"target": "127.0.0.1", "count": "16"})
    start = await anext(sse_events(first))
    result_id = start.data["result"]
    # A follower that leaves changes nothing for the run.
    leaving = await client.get(f"/api/v1/results/{result_id}/events")
    await anext(sse_events(leaving))
    leaving.close()
    staying = await client.get(f"/api/v1/results/{result_id}/events")
    async for event in sse_events(staying):
        if event.event == "hop":
            break
    assert client.app[RESULTS].live[result_id].status is None  # still running
    # The visitor leaves: the run ends as cancelled, and the follower sees that end.
    first.close()
    rest = await asyncio.wait_for(collect(staying), 10)
    assert rest[-1].event == "end" and rest[-1].data["status"] == "cancelled"
    result = await stored(client, result_id)
    assert result["status"] == "cancelled" and result["events"][-1]["event"] == "end"


async def test_a_result_page_shows_what_and_where(client: Any) -> None:
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"}))
    result_id = events[0].data["result"]
    await stored(client, result_id)
    page = await client.get(f"/r/{result_id}")
    html = await page.text()
    assert page.status == 200
    assert 'href="../static/style.css' in html and f'"id": "{result_id}"' in html


async def test_a_result_that_outgrows_its_cap_streams_on_and_says_it_was_cut(
    make_client: Any, make_settings: Any
) -> None:
    client = await make_client(make_settings(results="memory://", result_max_bytes=4096))
    events = await collect(await client.get("/api/v1/mtr", params={"target": "127.0.0.1", "count": "16"}))
    assert events[-1].data["status"] == "ok"  # the live run was not cut
    result = await stored(client, events[0].data["result"])
    assert result["cut"] and len(result["events"]) < len(events)
    assert result["events"][-1]["event"] == "end"  # how it ended is always kept


async def test_results_off_means_result_null_and_no_routes_to_read(make_client: Any, make_settings: Any) -> None:
    client = await make_client(make_settings(results="off"))
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"}))
    assert events[0].data["result"] is None
    resp = await client.get("/trace", params={"target": "127.0.0.1"})
    assert "Link" not in resp.headers
    assert (await client.get("/api/v1/results/AAAAAAAAAAAAAAAAAAAAAA")).status == 404


async def test_reading_spends_no_run_and_has_a_budget_of_its_own(make_client: Any, make_settings: Any) -> None:
    client = await make_client(make_settings(results="memory://", ratelimit="1/minute",
                                             results_ratelimit="3/minute"))
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"}))
    result_id = events[0].data["result"]
    await eventually(lambda: result_id not in client.app[RESULTS].live, 5)
    for _ in range(3):
        assert (await client.get(f"/api/v1/results/{result_id}")).status == 200
    refused = await client.get(f"/api/v1/results/{result_id}")
    assert refused.status == 429 and "result reads" in (await refused.json())["error"]["message"]
    assert (await client.get("/api/v1/ping", params={"target": "127.0.0.1"})).status == 429  # the run budget: spent


async def test_a_result_keeps_nothing_of_its_visitor(make_client: Any, make_settings: Any, tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    client = await make_client(make_settings(results=f"sqlite:///{path}"))
    visitor = "198.51.100.77"  # the test client is loopback, which is trusted to forward this
    resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1"}, headers={"X-Forwarded-For": visitor})
    events = await collect(resp)
    result = await stored(client, events[0].data["result"])
    assert visitor not in str(result)
    await client.app[RESULTS].store.close()  # everything written: the file itself
    assert visitor.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("results.sqlite3*"))
