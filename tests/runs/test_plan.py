"""Plans: a query checked against this server (its policy, its resolver, its tools), starting nothing."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import shutil
from pathlib import Path

import pytest

from tests.resolvers import TableResolver
from tests.runs.support import POLICY, SPECS, here, query
from webtrace.net.policy import AddressPolicy, PolicyDenied
from webtrace.net.targets import Family, TargetError
from webtrace.refusals import UnknownTool
from webtrace.runs.plan import PLANS_KEPT, Plan, plan_job
from webtrace.tools import LINUX, ToolUnavailable, find_tool


async def plan(tool: str, target: str, family: Family = Family.AUTO, policy: AddressPolicy = POLICY) -> Plan:
    return await plan_job(query(tool, target, family), here(policy=policy))


async def test_a_plan_is_the_argv_for_the_resolved_address() -> None:
    planned = await plan("mtr", " localhost ", Family.V4)
    assert planned.address == ipaddress.ip_address("127.0.0.1") and planned.family is Family.V4
    assert planned.target.text == "localhost"
    # The operator's count, interval and wait for the last answers (WEBTRACE_MTRGRACE).
    assert planned.argv == ["mtr", "--raw", "--no-dns", "-c", "3", "-i", "0.2", "-G", "0.2", "-m", "30", "-4",
                            "127.0.0.1"]
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
        await plan_job(query(missing, "127.0.0.1"), here())


async def test_a_plan_towards_an_address_is_kept_and_a_name_is_planned_each_time() -> None:
    resolver = TableResolver({"lab.example": ["127.0.0.7"]})
    server = dataclasses.replace(here(), resolver=resolver)
    first = await plan_job(query("ping", "127.0.0.1"), server)
    assert await plan_job(query("ping", "127.0.0.1"), server) is first
    # Asked otherwise, planned otherwise: the family, the count, the tool.
    assert (await plan_job(query("ping", "127.0.0.1", count="2"), server)).argv != first.argv
    assert (await plan_job(query("ping", "127.0.0.1", Family.V4), server)).argv[-1] == "127.0.0.1"
    assert (await plan_job(query("traceroute", "127.0.0.1"), server)).spec.name == "traceroute"
    for _ in range(2):
        assert (await plan_job(query("ping", "lab.example"), server)).address_text == "127.0.0.7"
    assert resolver.asked == ["lab.example", "lab.example"]  # a name may resolve elsewhere next time


async def test_a_kept_plan_is_refused_once_its_tool_is_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ping = SPECS["ping"]
    mine = dataclasses.replace(ping, argv={LINUX: dataclasses.replace(ping.argv[LINUX], executable="lab-ping")})
    installed = tmp_path / "lab-ping"
    installed.symlink_to(shutil.which("ping") or "/usr/bin/ping")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    server = here()
    assert (await plan_job(query(mine, "127.0.0.1"), server)).executable == str(installed)
    installed.unlink()
    with pytest.raises(ToolUnavailable):
        await plan_job(query(mine, "127.0.0.1"), server)


async def test_refused_plans_are_not_kept_and_the_kept_ones_are_bounded() -> None:
    server = here(policy=AddressPolicy(allow=(ipaddress.ip_network("127.0.0.0/8"),),
                                       deny=(ipaddress.ip_network("127.0.9.0/24"),)))
    with pytest.raises(PolicyDenied):
        await plan_job(query("ping", "127.0.9.1"), server)
    with pytest.raises(TargetError):
        await plan_job(query("ping", "127.0.0.256"), server)
    assert server.plans == {}
    targets = [f"127.0.{n // 250}.{n % 250 + 1}" for n in range(PLANS_KEPT + 1)]
    for target in targets:
        await plan_job(query("ping", target), server)
    assert len(server.plans) == PLANS_KEPT
    kept = {plan.address_text for plan in server.plans.values()}
    assert targets[0] not in kept and targets[-1] in kept  # the first kept went first
