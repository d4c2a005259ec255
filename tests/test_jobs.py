"""Jobs: where targets, tools, the runner and the parsers meet."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import os
import re
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import LOOPBACK_SETTINGS
from webtrace.events import Event
from webtrace.hops import Directory
from webtrace.jobs import Job, choose_options, find_tool, plan_job, pump, start_job
from webtrace.net.names import NameCache
from webtrace.net.policy import AddressPolicy, PolicyDenied
from webtrace.net.targets import Family, TargetError, system_resolver
from webtrace.process.runner import Busy, ProcessRunner
from webtrace.refusals import BadRequest, UnknownTool
from webtrace.tools import LINUX, ToolUnavailable, tools_for

POLICY = AddressPolicy(allow=LOOPBACK_SETTINGS.allow_networks)
SPECS = tools_for(LINUX)


async def plan(tool: str, target: str, family: Family = Family.AUTO, policy: AddressPolicy = POLICY) -> object:
    return await plan_job(spec=SPECS[tool], target_text=target, family=family, settings=LOOPBACK_SETTINGS,
                          policy=policy, resolver=system_resolver, platform=LINUX)


@pytest.fixture
async def runner() -> AsyncIterator[ProcessRunner]:
    runner = ProcessRunner(2)
    yield runner
    await runner.shutdown()


async def job_for(tool: str, target: str, runner: ProcessRunner, directory: Directory | None = None) -> Job:
    planned = await plan_job(spec=SPECS[tool], target_text=target, family=Family.AUTO, settings=LOOPBACK_SETTINGS,
                             policy=POLICY, resolver=system_resolver, platform=LINUX)
    return start_job(planned, settings=LOOPBACK_SETTINGS, runner=runner, directory=directory)


async def events_of(job: Job) -> list[Event]:
    events: list[Event] = []

    async def emit(batch: list[Event]) -> None:
        events.extend(batch)

    await pump(job, emit)
    return events


async def test_a_plan_is_the_argv_for_the_resolved_address() -> None:
    planned = await plan_job(spec=SPECS["mtr"], target_text=" localhost ", family=Family.V4,
                             settings=LOOPBACK_SETTINGS, policy=POLICY, resolver=system_resolver, platform=LINUX)
    assert planned.address == ipaddress.ip_address("127.0.0.1") and planned.family is Family.V4
    assert planned.target.text == "localhost"
    assert planned.argv == ["mtr", "--raw", "--no-dns", "-c", "3", "-i", "0.2", "-m", "30", "-4", "127.0.0.1"]
    assert planned.executable.endswith("/mtr")


async def test_what_refuses_a_plan_raises_a_refusal() -> None:
    with pytest.raises(TargetError):
        await plan("ping", "-f")
    with pytest.raises(PolicyDenied):
        await plan("ping", "127.0.0.1", policy=AddressPolicy())
    with pytest.raises(UnknownTool):
        find_tool(SPECS, "nmap")
    ping = SPECS["ping"]
    missing = dataclasses.replace(ping, argv={LINUX: dataclasses.replace(ping.argv[LINUX], executable="no-such-ping")})
    with pytest.raises(ToolUnavailable):
        await plan_job(spec=missing, target_text="127.0.0.1", family=Family.AUTO, settings=LOOPBACK_SETTINGS,
                       policy=POLICY, resolver=system_resolver, platform=LINUX)


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


@pytest.mark.parametrize(
    ("tool", "asked", "chosen"),
    [
        ("traceroute", {}, ("udp", None, None)),
        ("traceroute", {"protocol": "tcp"}, ("tcp", 80, None)),
        ("traceroute", {"protocol": "tcp", "port": "443"}, ("tcp", 443, None)),
        ("traceroute", {"protocol": "udp", "port": "53"}, ("udp", 53, None)),
        ("traceroute", {"protocol": "icmp"}, ("icmp", None, None)),
        ("mtr", {}, ("icmp", None, 3)),
        ("mtr", {"protocol": "tcp", "count": "5"}, ("tcp", 80, 5)),
        ("mtr", {"protocol": "udp", "port": "5353", "count": "1"}, ("udp", 5353, 1)),
        ("ping", {"count": "16"}, ("icmp", None, 16)),
        ("ping", {"protocol": "icmp", "count": ""}, ("icmp", None, 3)),
    ],
)
def test_options_and_their_defaults(tool: str, asked: dict[str, str], chosen: tuple[object, ...]) -> None:
    options = choose_options(SPECS[tool], LINUX, LOOPBACK_SETTINGS, **asked)
    assert (options.protocol, options.port, options.count) == chosen


@pytest.mark.parametrize(
    ("tool", "asked", "says"),
    [
        ("ping", {"protocol": "tcp"}, "ping here cannot send TCP probes: protocol must be icmp"),
        ("traceroute", {"protocol": "sctp"}, "protocol must be icmp, udp or tcp, not 'sctp'"),
        ("traceroute", {"protocol": "icmp", "port": "80"}, "port means nothing with ICMP"),
        ("mtr", {"port": "80"}, "port means nothing with ICMP"),  # mtr's own is ICMP
        ("ping", {"port": "80"}, "port means nothing for ping"),
        ("traceroute", {"protocol": "tcp", "port": "0"}, "port must be a number from 1 to 65535, not '0'"),
        ("traceroute", {"protocol": "tcp", "port": "65536"}, "port must be a number from 1 to 65535"),
        ("traceroute", {"protocol": "udp", "port": "eighty"}, "port must be a number from 1 to 65535"),
        ("traceroute", {"count": "3"}, "count means nothing for traceroute"),
        ("ping", {"count": "0"}, "count must be a number from 1 to 16, not '0'"),
        ("mtr", {"count": "17"}, "count must be a number from 1 to 16"),
        ("ping", {"count": "-1"}, "count must be a number from 1 to 16"),
    ],
)
def test_options_that_mean_nothing_are_refused_by_name(tool: str, asked: dict[str, str], says: str) -> None:
    with pytest.raises(BadRequest, match=re.escape(says)):
        choose_options(SPECS[tool], LINUX, LOOPBACK_SETTINGS, **asked)


def test_a_count_must_fit_in_the_time_a_run_may_last() -> None:
    settings = dataclasses.replace(LOOPBACK_SETTINGS, timeout=5.0, ping_interval=1.0, max_count=100)
    assert choose_options(SPECS["ping"], LINUX, settings, count="5").count == 5
    with pytest.raises(BadRequest, match=r"count 6 at one every 1 s would take 6 s, longer than the 5 s"):
        choose_options(SPECS["ping"], LINUX, settings, count="6")


def test_windows_has_no_tcp_traceroute() -> None:
    windows = tools_for("win32")
    with pytest.raises(BadRequest, match="traceroute here cannot send TCP probes: protocol must be icmp"):
        choose_options(windows["traceroute"], "win32", LOOPBACK_SETTINGS, protocol="tcp")
    assert choose_options(windows["traceroute"], "win32", LOOPBACK_SETTINGS).protocol == "icmp"


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
