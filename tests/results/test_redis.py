"""Results in Redis Streams, shared by two instances, with a real redis-server."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.edge.redis import redis_server
from tests.helpers import collect, eventually, eventually_async, sse_events
from webtrace.web.keys import RESULTS

pytestmark = pytest.mark.edge


async def test_a_run_on_one_instance_is_read_and_followed_live_on_another(
    tmp_path: Path, make_client: Any, make_settings: Any
) -> None:
    with redis_server(tmp_path) as (_, uri):
        settings = make_settings(results=uri, results_ttl=3600)
        a, b = await make_client(settings), await make_client(settings)
        run = await a.get("/api/v1/mtr", params={"target": "127.0.0.1", "count": "5"})
        seen = []
        async for event in sse_events(run):
            seen.append(event)
            if event.event == "hop":
                break
        result_id = seen[0].data["result"]
        assert result_id not in b.app[RESULTS].live  # b knows it only through redis
        # Written a batch at a time: b can read it a moment after a began it.

        async def readable() -> bool:
            return (await b.get(f"/api/v1/results/{result_id}")).status == 200

        assert await eventually_async(readable, 5)
        follower = await b.get(f"/api/v1/results/{result_id}/events")
        assert follower.status == 200
        rest = await collect(run)
        followed = await asyncio.wait_for(collect(follower), 20)
        assert [(f.id, f.event, f.data) for f in followed] == [(e.id, e.event, e.data) for e in seen + rest]
        await eventually(lambda: result_id not in a.app[RESULTS].live, 5)
        stored = await (await b.get(f"/api/v1/results/{result_id}")).json()
        assert stored["status"] == "ok" and len(stored["events"]) == len(seen + rest)
        text_a = await (await a.get(f"/api/v1/results/{result_id}", params={"format": "text"})).text()
        text_b = await (await b.get(f"/api/v1/results/{result_id}", params={"format": "text"})).text()
        assert text_a == text_b and "HOST:" in text_b
        # Each result's stream expires with it.
        client = aioredis.from_url("unix://" + uri.removeprefix("redis+unix://"))
        ttl = await client.ttl(f"webtrace:result:{result_id}")
        await client.aclose()
        assert 3500 < ttl <= 3600


async def test_redis_stopped_mid_run_costs_the_run_nothing_and_storing_resumes(
    tmp_path: Path, make_client: Any, make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with redis_server(tmp_path) as (process, uri):
        client = await make_client(make_settings(results=uri))
        run = await client.get("/api/v1/mtr", params={"target": "127.0.0.1", "count": "5"})
        first = await anext(sse_events(run))
        process.terminate()
        process.wait(10)
        with caplog.at_level(logging.WARNING, logger="webtrace.results.writer"):
            rest = await collect(run)
            assert rest[-1].data["status"] == "ok"  # streamed as usual
            refused = await client.get(f"/api/v1/results/{first.data['result']}")
            assert refused.status == 200  # still in the server's memory, waiting to be written
        warnings = [r for r in caplog.records if "could not be stored" in r.getMessage()]
        assert len(warnings) == 1
        with redis_server(tmp_path) as (_, again):
            assert again == uri
            await eventually(lambda: not client.app[RESULTS].writer.failing, 10)
            stored = await client.get(f"/api/v1/results/{first.data['result']}")
            assert stored.status == 200
            body = await stored.json()
            assert body["status"] == "ok" and not body["incomplete"]  # the outage lost nothing
            assert "results are stored in" in caplog.text


async def test_item_8_redis_restarted_empty_mid_run_loses_no_description_and_no_follower(
    tmp_path: Path, make_client: Any, make_settings: Any
) -> None:
    with redis_server(tmp_path) as (process, uri):
        settings = make_settings(results=uri, results_ttl=3600)
        a, b = await make_client(settings), await make_client(settings)
        run = await a.get("/api/v1/mtr", params={"target": "127.0.0.1", "count": "10"})
        seen = [await anext(sse_events(run))]
        result_id = seen[0].data["result"]

        async def readable() -> bool:
            return (await b.get(f"/api/v1/results/{result_id}")).status == 200

        assert await eventually_async(readable, 5)
        follower = await b.get(f"/api/v1/results/{result_id}/events")
        followed = [await anext(sse_events(follower))]
        process.terminate()  # no persistence: it comes back empty
        process.wait(10)
    with redis_server(tmp_path) as (_, again):
        assert again == uri
        seen += await collect(run)
        followed += await asyncio.wait_for(collect(follower), 40)
        # The follower got the whole run, in order, once each, to its end.
        assert [(f.id, f.event, f.data) for f in followed] == [(e.id, e.event, e.data) for e in seen]
        assert followed[-1].event == "end" and followed[-1].data["status"] == "ok"
        await eventually(lambda: result_id not in a.app[RESULTS].live, 10)
        stored = await (await b.get(f"/api/v1/results/{result_id}")).json()
        assert stored["tool"] == "mtr" and stored["status"] == "ok"  # written again whole, description first
        assert [e["id"] for e in stored["events"]] == list(range(1, len(seen) + 1))


async def test_item_7_a_follower_s_deadline_counts_from_the_run_s_start(
    tmp_path: Path, make_client: Any, make_settings: Any
) -> None:
    # A run recorded through another instance whose server died: its start is in redis, its end never will be.
    from webtrace.results.recorder import END_MARGIN_S
    from webtrace.results.redis import RedisStore
    from webtrace.results.store import Batch

    with redis_server(tmp_path) as (_, uri):
        settings = make_settings(results=uri, timeout=5.0)
        writer = RedisStore(uri, 3600)
        started = time.time() - 5.0 - END_MARGIN_S + 1.5  # its run may last 1.5 s more
        await writer.save([Batch("d" * 22, meta={"tool": "ping", "node": "gone"}, started_at=started,
                                 events=[(1, "start", {"tool": "ping"})])])
        await writer.close()
        client = await make_client(settings)
        assert (await (await client.get("/api/v1/results/" + "d" * 22)).json())["incomplete"] is False
        began = time.monotonic()
        followed = await collect(await client.get("/api/v1/results/" + "d" * 22 + "/events"), 10)
        assert [e.event for e in followed] == ["start", "incomplete"]
        assert 1.0 < time.monotonic() - began < 4.0  # not the whole limit again from the follower's arrival
        assert (await (await client.get("/api/v1/results/" + "d" * 22)).json())["incomplete"] is True


async def test_a_continuous_runs_superseded_rows_leave_the_shared_stream(
    tmp_path: Path, make_client: Any, make_settings: Any
) -> None:
    """A continuous mtr recorded in redis keeps one row a hop there too: what another
    instance reads, and what the stream itself holds."""
    with redis_server(tmp_path) as (_, uri):
        settings = make_settings(results=uri, results_ttl=3600, continuous_max=1.5, timeout=5, mtr_interval=0.1)
        a, b = await make_client(settings), await make_client(settings)
        events = await collect(await a.get("/api/v1/mtr", params={"target": "127.0.0.1", "continuous": "true"}))
        result_id = events[0].data["result"]
        assert sum(e.event == "hop" for e in events) > 5
        await eventually(lambda: result_id not in a.app[RESULTS].live, 5)
        stored = await (await b.get(f"/api/v1/results/{result_id}")).json()
        kinds = [e["event"] for e in stored["events"]]
        assert kinds.count("hop") == 1 and kinds.count("cycle") == sum(e.event == "cycle" for e in events)
        client = aioredis.from_url("unix://" + uri.removeprefix("redis+unix://"))
        entries = await client.xlen(f"webtrace:result:{result_id}")
        await client.aclose()
        assert entries == len(stored["events"]) + 2  # and the description and the end
