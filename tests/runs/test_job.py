"""Jobs: a plan's tool run as events, names and all, ending however it ends."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.runs.support import here, query
from webtrace.events import Event
from webtrace.hops import Directory
from webtrace.net.names import NameCache
from webtrace.process.runner import Busy, ProcessRunner
from webtrace.runs.job import Job, pump, start_job
from webtrace.runs.plan import plan_job


@pytest.fixture
async def runner() -> AsyncIterator[ProcessRunner]:
    runner = ProcessRunner(2)
    yield runner
    await runner.shutdown()


async def job_for(tool: str, target: str, runner: ProcessRunner, directory: Directory | None = None) -> Job:
    server = here(runner, directory=directory)
    return start_job(await plan_job(query(tool, target), server), server)


async def events_of(job: Job) -> list[Event]:
    events: list[Event] = []

    async def emit(batch: list[Event]) -> None:
        events.extend(batch)

    await pump(job, emit)
    return events


async def test_a_job_tells_its_run_in_order(runner: ProcessRunner) -> None:
    events = await events_of(await job_for("ping", "127.0.0.1", runner))
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert events[0].data["command"] == "ping -n -O -c 3 -i 0.2 -4 127.0.0.1"
    assert (events[0].data["protocol"], events[0].data["port"], events[0].data["count"]) == ("icmp", None, 3)
    assert kinds.count("reply") == 3 and "summary" in kinds and "progress" in kinds
    assert events[-1].data["status"] == "ok" and events[-1].data["exit_code"] == 0


async def test_the_global_cap_refuses_a_job(runner: ProcessRunner) -> None:
    first = await job_for("ping", "127.0.0.1", runner)
    second = await job_for("ping", "127.0.0.1", runner)
    with pytest.raises(Busy):
        await job_for("ping", "127.0.0.1", runner)
    first.run.abandon()
    second.run.abandon()
    assert runner.active == 0


async def test_a_parser_that_fails_costs_its_line_only(
    runner: ProcessRunner, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def feed(self, line: str) -> list[Event]:
            raise ValueError(line)

        def finish(self) -> list[Event]:
            raise ValueError("finish")

    job = await job_for("ping", "127.0.0.1", runner)
    job.parser = Broken()
    with caplog.at_level(logging.WARNING):
        events = await events_of(job)
    assert [e.kind for e in events if e.kind != "line"] == ["start", "end"]
    assert sum(e.kind == "line" for e in events) >= 5  # every line still reaches the client
    assert events[-1].data["status"] == "ok"
    assert caplog.text.count("the ping parser failed") == 1  # once a run, not once a line


async def test_a_tool_removed_after_the_check_ends_its_job(
    runner: ProcessRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = tmp_path / "ping"
    tool.write_text("#!/bin/sh\nexec /usr/bin/ping \"$@\"\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    job = await job_for("ping", "127.0.0.1", runner)
    assert job.plan.executable == str(tool)
    tool.unlink()
    events = await events_of(job)
    assert [e.kind for e in events] == ["start", "end"]
    assert events[-1].data["status"] == "failed" and "could not start" in events[-1].data["message"]
    assert runner.active == 0


async def test_a_late_name_follows_its_row_and_comes_before_the_end(runner: ProcessRunner) -> None:
    release = threading.Event()
    cache = NameCache(timeout=5, ttl=60, concurrency=2, ask=lambda a: "late.example" if release.wait(10) else None)
    job = await job_for("traceroute", "127.0.0.1", runner, Directory(cache))
    events: list[Event] = []

    async def emit(batch: list[Event]) -> None:
        events.extend(batch)
        if any(e.kind == "hop" for e in batch):
            release.set()  # the name arrives only once the row without it has gone out

    try:
        await pump(job, emit)
    finally:
        release.set()
        cache.close()
    kinds = [(e.kind, e.data["hosts"][0]["name"] if e.kind == "hop" else None) for e in events]
    assert kinds[-3:] == [("hop", None), ("hop", "late.example"), ("end", None)]
    assert events[-1].data["status"] == "ok"


async def test_a_name_that_never_comes_holds_the_end_no_longer_than_its_timeout(runner: ProcessRunner) -> None:
    release = threading.Event()
    cache = NameCache(timeout=0.5, ttl=60, concurrency=2, ask=lambda a: "never.example" if release.wait(10) else None)
    job = await job_for("traceroute", "127.0.0.1", runner, Directory(cache))
    try:
        events = await asyncio.wait_for(events_of(job), timeout=5)
    finally:
        release.set()
        cache.close()
    assert events[-1].kind == "end" and events[-1].data["status"] == "ok"
    assert all(h["name"] is None for e in events if e.kind == "hop" for h in e.data["hosts"])


async def test_a_client_gone_while_a_name_is_sent_ends_the_job_cleanly(runner: ProcessRunner) -> None:
    cache = NameCache(timeout=5, ttl=60, concurrency=2, ask=lambda a: "gone.example")
    job = await job_for("mtr", "127.0.0.1", runner, Directory(cache))

    async def emit(batch: list[Event]) -> None:
        if any(e.kind == "hop" and e.data["hosts"] and e.data["hosts"][0]["name"] for e in batch):
            raise ConnectionResetError("the client left")

    try:
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(pump(job, emit), timeout=10)
    finally:
        cache.close()
    assert job.run.outcome is not None and job.run.outcome.status == "cancelled"
    assert runner.active == 0
