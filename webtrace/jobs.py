"""A job: one tool run towards one checked address, told as a sequence of events.

This is where targets, tools, the runner and the parsers meet; the views only
choose a sink (SSE or text) and hand ``pump`` a function that writes events.
Everything that can refuse a request happens in ``plan_job`` and ``start_job``,
before any response starts and before any process exists; each raises a
:class:`~webtrace.refusals.Refusal`.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from .events import Event, Outcome, Parser
from .net.addresses import IPAddress
from .net.policy import AddressPolicy
from .net.targets import Family, Resolver, Target, parse_target, resolve
from .process.runner import ProcessRunner, Run
from .refusals import UnknownTool
from .settings import Settings
from .tools import ToolContext, ToolSpec, build_argv, locate

log = logging.getLogger(__name__)

# Writes a batch of events: those of one read of the tool's output, in order.
Emit = Callable[[list[Event]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Plan:
    """A checked request: what would run, against which address."""

    spec: ToolSpec
    target: Target
    address: IPAddress
    executable: str
    argv: list[str]
    platform: str

    @property
    def family(self) -> Family:
        return Family.of(self.address)


@dataclass(slots=True)
class Job:
    plan: Plan
    run: Run
    parser: Parser | None  # None: the output is streamed as lines only
    parser_failed: bool = False  # logged once a run

    @property
    def spec(self) -> ToolSpec:
        return self.plan.spec

    def start_event(self) -> Event:
        plan = self.plan
        return Event("start", dict(
            tool=plan.spec.name,
            target=plan.target.text,
            address=str(plan.address),
            family=plan.family.value,
            command=shlex.join(plan.argv),
        ))

    @staticmethod
    def end_event(outcome: Outcome) -> Event:
        return Event("end", dict(
            status=outcome.status,
            exit_code=outcome.exit_code,
            duration_s=outcome.duration_s,
            message=outcome.message,
        ))


def find_tool(tools: Mapping[str, ToolSpec], name: str) -> ToolSpec:
    spec = tools.get(name)
    if spec is None:
        raise UnknownTool(f"there is no tool called {name!r} here")
    return spec


async def plan_job(
    *,
    spec: ToolSpec,
    target_text: str,
    family: Family,
    settings: Settings,
    policy: AddressPolicy,
    resolver: Resolver,
    platform: str,
) -> Plan:
    """Validate and resolve; raises a Refusal (bad target, denied, unresolvable,
    tool not installed). Starts nothing."""
    target = parse_target(target_text)
    address = await resolve(target, family, policy, resolver=resolver, timeout=settings.resolve_timeout)
    executable = locate(spec, platform)
    ctx = ToolContext(
        address=str(address),
        family=Family.of(address),
        ping_count=settings.ping_count,
        ping_interval=settings.ping_interval,
        mtr_count=settings.mtr_count,
        mtr_interval=settings.mtr_interval,
        max_hops=settings.max_hops,
    )
    return Plan(spec, target, address, executable, build_argv(spec, ctx, platform), platform)


def start_job(plan: Plan, *, settings: Settings, runner: ProcessRunner) -> Job:
    """Reserve a runner slot for the plan; raises Busy or ShuttingDown."""
    spec = plan.spec
    run = runner.run(plan.argv, name=spec.name, timeout=settings.timeout, executable=plan.executable)
    total = getattr(settings, spec.progress_total) if spec.progress_total else 0
    return Job(plan, run, spec.parser_for(str(plan.address), total, plan.platform))


def _parser_failed(job: Job) -> None:
    """A line the parser cannot read is streamed as text alone and the run goes
    on: a parser error must never cut a stream short. Logged once a run."""
    if not job.parser_failed:
        job.parser_failed = True
        log.warning("the %s parser failed; such lines are streamed as text", job.spec.name, exc_info=True)


async def pump(job: Job, emit: Emit) -> Outcome:
    """Run the job, handing its events to ``emit``; returns how the run ended.

    The start event goes out before the process is spawned, so a client sees
    the response begin at once. Events are handed over a read at a time, so a
    sink writes once for many lines. If ``emit`` fails or the task is cancelled
    (the client went away), the run's context ends the process group.
    """
    await emit([job.start_event()])
    try:
        parser = job.parser
        async with job.run:
            async for lines in job.run.batches():
                events: list[Event] = []
                for line in lines:
                    events.append(Event("line", {"text": line}))
                    if parser is not None:
                        try:
                            events.extend(parser.feed(line))
                        except Exception:
                            _parser_failed(job)
                await emit(events)
            if parser is not None:
                try:
                    tail = parser.finish()
                except Exception:
                    _parser_failed(job)
                    tail = []
                if tail:
                    await emit(tail)
    except OSError:
        if job.run.pid is None and job.run.outcome is not None:  # it could not be spawned at all
            await emit([job.end_event(job.run.outcome)])
            return job.run.outcome
        raise
    ended = job.run.outcome
    assert ended is not None
    await emit([job.end_event(ended)])
    return ended
