"""Continuous runs (design §13) through a real server and real ping and mtr on
loopback: what refuses them, what ends them, what they pay and what their
results and text keep."""

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import collect, eventually, hop_table, runs_started, sse_events, tool_processes

Client = Any


async def _refused(client: Client, path: str, **params: str) -> tuple[int, str]:
    resp = await client.get(path, params=params)
    body = await resp.text()
    return resp.status, body


@pytest.mark.parametrize(("path", "params", "words"), [
    ("/api/v1/traceroute", {"continuous": "true"}, "traceroute cannot run continuously"),
    ("/api/v1/tracepath", {"continuous": "true"}, "tracepath cannot run continuously"),
    ("/api/v1/ping", {"continuous": "true", "count": "3"}, "count means nothing for a continuous run"),
    ("/api/v1/mtr", {"continuous": "maybe"}, "continuous must be true or false"),
    ("/trace", {"continuous": "true"}, "traceroute cannot run continuously"),
    ("/api/v1/ping/check", {"continuous": "1", "count": "2"}, "count means nothing"),
])
async def test_a_continuous_run_where_none_can_be_is_a_400_that_says_why(
        make_client: Callable[..., Any], path: str, params: dict[str, str], words: str) -> None:
    client = await make_client()
    status, body = await _refused(client, path, target="127.0.0.1", **params)
    assert status == 400 and words in body
    assert runs_started(client.server.app) == 0


async def test_turned_off_it_is_refused_and_false_is_an_ordinary_run(
        make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(make_settings(continuous_max=0))
    status, body = await _refused(client, "/api/v1/ping", target="127.0.0.1", continuous="true")
    assert status == 400 and "continuous runs are turned off on this server" in body
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1", "continuous": "false"}))
    assert "continuous" not in events[0].data and events[0].data["count"] == 3
    assert events[-1].data["status"] == "ok"


async def test_a_continuous_ping_runs_past_its_count_to_the_most_and_says_so(
        make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(make_settings(continuous_max=1.5, timeout=5))
    resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1", "continuous": "true"})
    assert resp.status == 200
    events = await collect(resp)
    start, end = events[0].data, events[-1].data
    assert start["continuous"] is True and start["count"] is None
    replies = [e.data for e in events if e.event == "reply"]
    assert len(replies) > 3  # past the ordinary count of 3, one every 0.2 s
    progress = [e.data for e in events if e.event == "progress"]
    assert progress[-1]["max_s"] == 1.5 and 0 < progress[-1]["elapsed_s"] <= 1.5
    assert progress[-1]["total"] == 8  # 1.5 s at one every 0.2 s
    assert end["status"] == "timeout"
    assert end["message"] == "ping ran for 1.5 s, the most a continuous run may here"
    assert await eventually(lambda: not tool_processes(), 1.0)


async def test_it_pays_a_run_for_each_slice_begun_and_ends_limit_when_it_cannot(
        make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    # A slice is WEBTRACE_TIMEOUT: 1 s. The budget pays the start and one more slice.
    client = await make_client(make_settings(ratelimit="2/minute", timeout=1, continuous_max=30))
    resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1", "continuous": "true"})
    assert resp.headers["RateLimit-Remaining"] == "1"
    events = await collect(resp)
    end = events[-1].data
    assert end["status"] == "limit"
    assert "your budget of 2 per 1 minute cannot pay for the next 1 s" in end["message"]
    assert "It refills in" in end["message"]
    assert 1.5 < end["duration_s"] < 5
    assert await eventually(lambda: not tool_processes(), 1.0)
    again = await client.get("/api/v1/ping", params={"target": "127.0.0.1"})
    assert again.status == 429  # both runs of the budget went to the continuous run


async def test_one_continuous_run_per_client_and_leaving_ends_its_group(
        make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(make_settings(continuous_max=60))
    resp = await client.get("/mtr", params={"target": "127.0.0.1", "continuous": "true"})
    assert resp.status == 200
    first = await asyncio.wait_for(resp.content.readline(), 10)  # the run is going
    assert first
    second = await client.get("/api/v1/ping", params={"target": "127.0.0.1", "continuous": "true"})
    assert second.status == 429 and int(second.headers["Retry-After"]) > 0
    assert "You already have a continuous run going" in (await second.json())["error"]["message"]
    check = await client.get("/api/v1/ping/check", params={"target": "127.0.0.1", "continuous": "true"})
    assert check.status == 429
    ordinary = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"}))
    assert ordinary[-1].data["status"] == "ok"  # it counts as one run at once, of the client's 50
    assert await eventually(lambda: bool(tool_processes()), 5)
    resp.close()
    assert await eventually(lambda: not tool_processes(), 2.0)
    # Its slot is free again once it ended.
    assert await eventually(lambda: client.server.app[_limiter()].continuous_busy("127.0.0.1") is False, 2.0)


def _limiter() -> Any:
    from webtrace.web.ratelimit import LIMITER
    return LIMITER


async def test_a_continuous_mtr_tells_cycles_and_its_result_keeps_one_row_a_hop(
        make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(make_settings(continuous_max=1.5, timeout=5, mtr_interval=0.1, mtr_count=3))
    events = await collect(await client.get("/api/v1/mtr", params={"target": "127.0.0.1", "continuous": "true"}))
    cycles = [e.data for e in events if e.event == "cycle"]
    assert len(cycles) > 5  # more than its ordinary count of 3
    assert [c["cycle"] for c in cycles] == list(range(1, len(cycles) + 1))
    assert all(c["hosts"] == ["127.0.0.1"] and isinstance(c["rtts_ms"][0], float) for c in cycles)
    rows = [e for e in events if e.event == "hop"]
    assert len(rows) > len(cycles)  # the visitor sees every change
    assert events[-1].data["status"] == "timeout"
    result_id = events[0].data["result"]
    stored = await (await client.get(f"/api/v1/results/{result_id}")).json()
    kinds = [e["event"] for e in stored["events"]]
    assert stored["continuous"] is True
    assert kinds.count("hop") == 1 and kinds.count("progress") == 1 and "line" not in kinds
    assert kinds.count("cycle") == len(cycles)
    assert hop_table((e["event"], e["data"]) for e in stored["events"]) == hop_table(
        (e.event, e.data) for e in events)
    ids = [e["id"] for e in stored["events"]]
    assert ids == sorted(ids) and ids[-1] == int(events[-1].id or 0)


async def test_a_followers_resume_of_a_continuous_run_misses_nothing_it_needs(
        make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(make_settings(continuous_max=1.5, timeout=5, mtr_interval=0.1))
    resp = await client.get("/api/v1/mtr", params={"target": "127.0.0.1", "continuous": "true"})
    stream = sse_events(resp)
    seen = [await anext(stream) for _ in range(6)]
    result_id = seen[0].data["result"]
    follower = await client.get(f"/api/v1/results/{result_id}/events", headers={"Last-Event-ID": seen[-1].id})
    followed = await collect(follower)
    rest = [e async for e in stream]
    assert [int(e.id or 0) for e in followed] == sorted(int(e.id or 0) for e in followed)
    assert int(followed[0].id or 0) > int(seen[-1].id or 0)
    assert [e.data for e in followed if e.event == "cycle"] == [e.data for e in rest if e.event == "cycle"]
    assert hop_table((e.event, e.data) for e in [*seen, *followed]) == hop_table(
        (e.event, e.data) for e in [*seen, *rest])


async def test_mtrs_text_prints_its_table_every_ten_cycles_while_it_runs(
        make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(make_settings(continuous_max=2.5, timeout=5, mtr_interval=0.1))
    resp = await client.get("/mtr", params={"target": "127.0.0.1", "continuous": "true"})
    text = await asyncio.wait_for(resp.text(), 15)
    assert "Cycles: 10\n" in text and "Cycles: 20\n" in text
    tables = text.split("\nStart: ")
    assert all("  1.|-- 127.0.0.1" in table for table in tables[1:])
    assert text.rstrip().endswith("TIMEOUT: mtr ran for 2.5 s, the most a continuous run may here")
