"""Plans: a query checked against this server (its policy, its resolver, its tools), starting nothing."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from tests.runs.support import POLICY, SPECS, here, query
from webtrace.net.policy import AddressPolicy, PolicyDenied
from webtrace.net.targets import Family, TargetError
from webtrace.refusals import UnknownTool
from webtrace.runs.plan import Plan, plan_job
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
