"""A run's plan: the query checked against this server (its address policy, its
resolver, its tools), before anything starts. Everything that can refuse a run
once its query is read happens here or when its job starts (``job.start_job``),
before any response begins and before any process exists."""

from __future__ import annotations

import functools
import shlex
from dataclasses import dataclass, field, replace

from ..hops import Directory
from ..net.addresses import IPAddress
from ..net.policy import AddressPolicy
from ..net.targets import Family, Resolver, Target, parse_target, resolve
from ..process.runner import ProcessRunner
from ..tools import Options, RunLimits, ToolContext, ToolSpec, build_argv, continuous_count, locate
from .query import RunQuery


@dataclass(frozen=True, slots=True)
class Here:
    """What this server runs with: the policy and resolver a plan is checked with,
    and the runner and directory its job starts with."""

    policy: AddressPolicy
    resolver: Resolver
    platform: str
    limits: RunLimits
    resolve_timeout: float
    max_hops: int
    runner: ProcessRunner
    directory: Directory | None = None
    # The plans of runs towards addresses written as such, by what they were asked
    # (``plan_job``): a crowd that arrives at once mostly asks for one target.
    plans: dict[PlanKey, Plan] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def run_timeout(self) -> float:
        return self.limits.timeout_s

    @property
    def slice_s(self) -> float:
        """A continuous run pays one run from its visitor's budget for each of these begun."""
        return self.limits.timeout_s

    @property
    def continuous_max_s(self) -> float:
        return self.limits.continuous_max_s


@dataclass(frozen=True, slots=True)
class Plan:
    """A checked request: what would run, against which address. Shared by the runs
    that asked the same (``plan_job``): nothing changes one once made, its argv included."""

    spec: ToolSpec
    target: Target
    address: IPAddress
    address_text: str  # as the start event, the tool and the parser write it: made once (ipaddress's str is dear)
    executable: str
    argv: list[str]
    platform: str
    options: Options
    continuous: bool = False
    # The probes (or cycles) the tool is started with: the query's count, or for a
    # continuous run one past what its most allows (0: a tool that takes no count).
    probes: int = 0
    # The argv as a shell would read it, for the ``start`` event and the result: quoted
    # once, here (quoting each word is a regular expression's search).
    command: str = ""

    @property
    def family(self) -> Family:
        return Family.of(self.address)


# The most plans ``Here.plans`` keeps; the first kept goes first.
PLANS_KEPT = 256
# What a plan for an address written as such depends on, besides what is fixed while
# the server runs (its policy, platform and limits): the tool, the query's own words.
PlanKey = tuple[str, str, Family, Options, bool]


async def plan_job(query: RunQuery, here: Here) -> Plan:
    """Validate and resolve the query's target; raises a Refusal (bad target,
    denied, unresolvable, tool not installed). Starts nothing.

    A query whose target is an address written as such always plans the same (its
    checks and its argv are the same, since the policy and the tools are fixed while
    the server runs), so its plan is kept and only the tool is looked for again: the
    checks and the argv were a fifth of a request's instructions up to its headers. A
    name is planned every time, since what it resolves to may change."""
    key = (query.spec.name, query.target, query.family, query.options, query.continuous)
    kept = here.plans.get(key)
    if kept is not None:
        executable = locate(query.spec, here.platform)  # still installed (or moved)
        return kept if executable == kept.executable else replace(kept, executable=executable)
    plan = await _plan(query, here)
    if plan.target.address is not None:
        if len(here.plans) >= PLANS_KEPT:
            del here.plans[next(iter(here.plans))]
        here.plans[key] = plan
    return plan


async def _plan(query: RunQuery, here: Here) -> Plan:
    spec = query.spec
    target = parse_target(query.target)
    address = await resolve(target, query.family, here.policy, resolver=here.resolver, timeout=here.resolve_timeout)
    executable = locate(spec, here.platform)
    options = query.options
    if query.continuous:
        options = replace(options, count=continuous_count(spec, here.limits))
    address_text = str(address)
    ctx = ToolContext(
        address=address_text,
        family=Family.of(address),
        options=options,
        max_hops=here.max_hops,
        interval_s=spec.count.interval_s if spec.count is not None else None,
        wait_s=spec.count.wait_s if spec.count is not None else None,
    )
    argv = build_argv(spec, ctx, here.platform)
    return Plan(spec, target, address, address_text, executable, argv, here.platform, query.options,
                query.continuous, options.count or 0, " ".join(map(_quoted, argv)))


# What ``shlex.join`` does to each word, remembered: a tool's words (its options, the
# addresses asked about) come back run after run, and quoting one is a regular expression's search.
_quoted = functools.lru_cache(maxsize=4096)(shlex.quote)
