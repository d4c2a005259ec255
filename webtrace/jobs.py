"""A job: one tool run towards one checked address, told as a sequence of events.

This is where targets, tools, the runner and the parsers meet; the views only
choose a sink (SSE or text) and hand ``pump`` a function that writes one event.
Everything that can refuse a request happens in ``prepare_job``, before any
response starts and before any process exists.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from .events import Event, Parser
from .parsers import parser_for
from .policy import AddressPolicy, IPAddress
from .runner import Outcome, ProcessRunner, Run
from .settings import Settings
from .targets import Family, Resolver, Target, parse_target, resolve
from .tools import ToolContext, ToolSpec, build_argv, locate

log = logging.getLogger(__name__)

# Writes a batch of events: those of one read of the tool's output, in order.
Emit = Callable[[list[Event]], Awaitable[None]]


class UnknownTool(LookupError):
    """No such tool (HTTP 404)."""


@dataclass(slots=True)
class Job:
    spec: ToolSpec
    target: Target
    address: IPAddress
    family: Family
    argv: list[str]
    run: Run
    parser: Parser
    parser_failed: bool = False  # logged once a run

    def start_event(self) -> Event:
        return Event(
            "start",
            dict(
                tool=self.spec.name,
                target=self.target.text,
                address=str(self.address),
                family=self.family.value,
                command=shlex.join(self.argv),
            ),
        )

    @staticmethod
    def end_event(outcome: Outcome) -> Event:
        return Event(
            "end",
            dict(
                status=outcome.status,
                exit_code=outcome.exit_code,
                duration_s=outcome.duration_s,
                message=outcome.message,
            ),
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """A checked request: what would run, against which address."""

    spec: ToolSpec
    target: Target
    address: IPAddress
    executable: str
    argv: list[str]


async def plan_job(
    *,
    tool: str,
    target_text: str,
    family: Family,
    settings: Settings,
    tools: Mapping[str, ToolSpec],
    policy: AddressPolicy,
    resolver: Resolver,
) -> Plan:
    """Validate and resolve; raises UnknownTool, TargetError, ResolveError,
    PolicyDenied or ToolUnavailable. Starts nothing."""
    spec = tools.get(tool)
    if spec is None:
        raise UnknownTool(f"there is no tool called {tool!r} here")
    target = parse_target(target_text)
    address = await resolve(
        target, family, policy, resolver=resolver, timeout=settings.resolve_timeout
    )
    executable = locate(spec)
    ctx = ToolContext(
        address=str(address),
        family=Family.of(address),
        ping_count=settings.ping_count,
        ping_interval=settings.ping_interval,
        mtr_count=settings.mtr_count,
        mtr_interval=settings.mtr_interval,
        max_hops=settings.max_hops,
    )
    return Plan(spec, target, address, executable, build_argv(spec, ctx))


def start_job(plan: Plan, *, settings: Settings, runner: ProcessRunner, platform: str) -> Job:
    """Reserve a runner slot for the plan; raises Busy or ShuttingDown."""
    name = plan.spec.name
    run = runner.run(plan.argv, name=name, timeout=settings.timeout, executable=plan.executable)
    count = settings.ping_count if name == "ping" else settings.mtr_count
    parser = parser_for(name, address=str(plan.address), count=count, platform=platform)
    family = Family.of(plan.address)
    return Job(plan.spec, plan.target, plan.address, family, plan.argv, run, parser)


def _parse(job: Job, step: Callable[[str], list[Event]], line: str) -> list[Event]:
    """A parser's events for one line; a line it cannot read is streamed as text
    alone and the run goes on (a parser error must never cut a stream short)."""
    try:
        return step(line)
    except Exception:
        if not job.parser_failed:
            job.parser_failed = True
            log.warning("the %s parser failed on %r; such lines are streamed as text", job.spec.name, line,
                        exc_info=True)
        return []


async def pump(job: Job, emit: Emit) -> Outcome:
    """Run the job, handing its events to ``emit``; returns how the run ended.

    The start event goes out before the process is spawned, so a client sees
    the response begin at once. Events are handed over a read at a time, so a
    sink writes once for many lines. If ``emit`` fails or the task is cancelled
    (the client went away), the run's context ends the process group.
    """
    await emit([job.start_event()])
    try:
        async with job.run:
            async for lines in job.run.batches():
                events: list[Event] = []
                for line in lines:
                    events.append(Event("line", {"text": line}))
                    events.extend(_parse(job, job.parser.feed, line))
                await emit(events)
            tail = _parse(job, lambda _: job.parser.finish(), "")
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
