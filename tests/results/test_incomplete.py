"""A result whose run can never end: its server killed mid-run, then started again
on the same file (issue: holes, item 7). Real server processes, a real SQLite file."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp

from tests.helpers import collect, eventually_async, sse_events
from tests.server import server_process

ENV = {"WEBTRACE_PINGCOUNT": "16", "WEBTRACE_PINGINTERVAL": "0.5", "WEBTRACE_TIMEOUT": "30"}


async def test_item_7_a_follower_of_a_run_that_died_with_its_server_is_let_go(tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as session:
        with server_process(tmp_path, ENV, unix=False) as first:
            resp = await session.get(f"{first.base}/api/v1/ping", params={"target": "127.0.0.1"})
            seen = []
            async for event in sse_events(resp):
                seen.append(event)
                if event.event == "reply" and event.data["seq"] == 3:
                    break
            result_id = seen[0].data["result"]

            async def written() -> bool:  # a batch every 100 ms: the replies so far reach the file
                stored = await (await session.get(f"{first.base}/api/v1/results/{result_id}")).json()
                return sum(e["event"] == "reply" for e in stored["events"]) >= 3

            assert await eventually_async(written, 5)
            first.process.kill()  # kill -9: no end is ever written
            first.process.wait(5)
            resp.close()
        with server_process(tmp_path, ENV, unix=False) as second:
            stored = await (await session.get(f"{second.base}/api/v1/results/{result_id}")).json()
            assert stored["status"] is None and stored["incomplete"] is True
            began = time.monotonic()
            followed = await collect(await session.get(f"{second.base}/api/v1/results/{result_id}/events"), 10)
            took = time.monotonic() - began
            # What is stored, then a sentence, and the stream closes at once (no polling until a deadline).
            assert [(int(e.id or 0), e.event) for e in followed[:-1]] == [
                (e["id"], e["event"]) for e in stored["events"]]
            assert followed[-1].event == "incomplete" and "stopped before its end was stored" in \
                followed[-1].data["message"]
            assert took < 2, took
            last = stored["events"][-1]["id"]
            again = await session.get(f"{second.base}/api/v1/results/{result_id}/events",
                                      headers={"Last-Event-ID": str(last)})
            assert [e.event for e in await collect(again, 10)] == ["incomplete"]
