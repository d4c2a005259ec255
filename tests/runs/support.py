"""What the runs room's tests plan and start with: the loopback settings' tools, limits and server."""

from __future__ import annotations

from tests.conftest import LOOPBACK_SETTINGS
from webtrace.hops import Directory
from webtrace.net.policy import AddressPolicy
from webtrace.net.targets import Family, system_resolver
from webtrace.process.runner import ProcessRunner
from webtrace.runs.plan import Here
from webtrace.runs.query import RunQuery, run_query
from webtrace.tools import LINUX, TOOLS, Counting, RunLimits, ToolSpec, counted, tools_for

POLICY = AddressPolicy(allow=LOOPBACK_SETTINGS.allow_networks)
COUNTS = {name: Counting(*given) for name, given in LOOPBACK_SETTINGS.tool_counts().items()}
SPECS = tools_for(LINUX, counted(TOOLS, COUNTS))
LIMITS = RunLimits(LOOPBACK_SETTINGS.max_count, LOOPBACK_SETTINGS.timeout)


def here(runner: ProcessRunner | None = None, *, policy: AddressPolicy = POLICY,
         directory: Directory | None = None) -> Here:
    return Here(policy=policy, resolver=system_resolver, platform=LINUX, limits=LIMITS,
                resolve_timeout=LOOPBACK_SETTINGS.resolve_timeout, max_hops=LOOPBACK_SETTINGS.max_hops,
                runner=runner or ProcessRunner(1), directory=directory)


def query(tool: str | ToolSpec, target: str, family: Family = Family.AUTO, **asked: str) -> RunQuery:
    spec = SPECS[tool] if isinstance(tool, str) else tool
    return run_query(spec, platform=LINUX, limits=LIMITS, known_nodes=[], target=target, family=family.value,
                     **asked)
