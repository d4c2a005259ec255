"""A job: one tool run towards one checked address, told as a sequence of events.

This is where targets, tools, the runner and the parsers meet; the views only
choose a sink (SSE or text) and hand ``pump`` a function that writes events.
Everything that can refuse a request happens in ``plan_job`` and ``start_job``,
before any response starts and before any process exists; each raises a
:class:`~webtrace.refusals.Refusal`.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from .events import Event, Outcome, Parser
from .hops import Directory, HopNotes
from .net.addresses import IPAddress
from .net.policy import AddressPolicy
from .net.targets import Family, Resolver, Target, parse_target, resolve
from .process.runner import ProcessRunner, Run
from .refusals import BadRequest, UnknownTool
from .settings import Settings
from .tools import ICMP, PROTOCOLS, Options, ToolContext, ToolSpec, ToolUnavailable, build_argv, locate

MAX_PORT = 65535

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
    options: Options

    @property
    def family(self) -> Family:
        return Family.of(self.address)


@dataclass(slots=True)
class Job:
    plan: Plan
    run: Run
    parser: Parser | None  # None: the output is streamed as lines only
    notes: HopNotes | None = None  # None: hop rows go out as the parser made them
    result_id: str | None = None  # its result's id, where results are kept
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
            protocol=plan.options.protocol,
            port=plan.options.port,
            count=plan.options.count,
            command=shlex.join(plan.argv),
            result=self.result_id,
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


def choose_options(
    spec: ToolSpec,
    platform: str,
    settings: Settings,
    *,
    protocol: str | None = None,
    port: str | None = None,
    count: str | None = None,
) -> Options:
    """The run's protocol, port and count, from what was asked (None: not given) and
    the tool's defaults; raises BadRequest naming the parameter and why. Pure."""
    argv = spec.argv_on(platform)
    if argv is None:
        raise ToolUnavailable(f"{spec.name} is not offered on this server")
    speaks = list(argv.protocols)
    chosen = speaks[0] if protocol is None or protocol == "" else protocol
    if chosen not in PROTOCOLS:
        raise BadRequest(f"protocol must be {_either(PROTOCOLS)}, not {protocol!r}")
    if chosen not in speaks:
        raise BadRequest(f"{spec.name} here cannot send {chosen.upper()} probes: protocol must be {_either(speaks)}")
    chosen_port = _port(spec, chosen, port)
    return Options(chosen, chosen_port, _count(spec, settings, count))


def _port(spec: ToolSpec, protocol: str, text: str | None) -> int | None:
    if text is None or text == "":
        return spec.default_ports.get(protocol)
    if not spec.ports:
        raise BadRequest(f"port means nothing for {spec.name}: leave it out")
    if protocol == ICMP:
        raise BadRequest("port means nothing with ICMP: leave it out, or choose protocol udp or tcp")
    chosen = _whole_number(text, MAX_PORT)
    if chosen is None:
        raise BadRequest(f"port must be a number from 1 to {MAX_PORT}, not {text[:20]!r}")
    return chosen


def _count(spec: ToolSpec, settings: Settings, text: str | None) -> int | None:
    if spec.count is None:
        if text is not None and text != "":
            raise BadRequest(f"count means nothing for {spec.name}: leave it out")
        return None
    if text is None or text == "":
        return int(getattr(settings, spec.count))
    limit = settings.max_count
    chosen = _whole_number(text, limit)
    if chosen is None:
        raise BadRequest(f"count must be a number from 1 to {limit}, not {text[:20]!r}")
    interval = float(getattr(settings, spec.interval)) if spec.interval else 0.0
    if chosen * interval > settings.timeout:
        raise BadRequest(
            f"count {chosen} at one every {interval:g} s would take {chosen * interval:g} s, "
            f"longer than the {settings.timeout:g} s a run may last"
        )
    return chosen


def _whole_number(text: str, most: int) -> int | None:
    """``text`` as a number from 1 to ``most``, or None. The length is checked first:
    a number of thousands of digits is refused by ``int`` itself, with a ValueError
    that is no refusal."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(most))):
        return None
    number = int(text)
    return number if 1 <= number <= most else None


def _either(words: list[str] | tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" or {words[-1]}"


async def plan_job(
    *,
    spec: ToolSpec,
    target_text: str,
    family: Family,
    settings: Settings,
    policy: AddressPolicy,
    resolver: Resolver,
    platform: str,
    options: Options | None = None,
) -> Plan:
    """Validate and resolve; raises a Refusal (bad target, denied, unresolvable,
    tool not installed). Starts nothing. ``options``: the tool's defaults if None."""
    if options is None:
        options = choose_options(spec, platform, settings)
    target = parse_target(target_text)
    address = await resolve(target, family, policy, resolver=resolver, timeout=settings.resolve_timeout)
    executable = locate(spec, platform)
    ctx = ToolContext(
        address=str(address),
        family=Family.of(address),
        options=options,
        ping_interval=settings.ping_interval,
        mtr_interval=settings.mtr_interval,
        max_hops=settings.max_hops,
    )
    return Plan(spec, target, address, executable, build_argv(spec, ctx, platform), platform, options)


def start_job(
    plan: Plan, *, settings: Settings, runner: ProcessRunner, directory: Directory | None = None
) -> Job:
    """Reserve a runner slot for the plan; raises Busy or ShuttingDown. Hop rows
    get names, AS and country from ``directory``, where it has any."""
    spec = plan.spec
    run = runner.run(plan.argv, name=spec.name, timeout=settings.timeout, executable=plan.executable)
    total = plan.options.count or 0
    parser = spec.parser_for(str(plan.address), total, plan.platform)
    notes = directory.for_run() if directory is not None and parser is not None and spec.hops else None
    return Job(plan, run, parser, notes)


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

    Hop rows are annotated as they are handed over, and a row is handed over
    again when a name looked up for it arrives, at any time in between: one
    lock keeps the two from writing at once. After the tool ends, names still
    being looked up are waited for (each has its timeout), so the last table
    has them; not when the server is shutting down.
    """
    notes = job.notes
    if notes is None:
        ended = await _pump(job, emit)
        await emit([job.end_event(ended)])
        return ended
    lock = asyncio.Lock()

    async def send(events: list[Event]) -> None:
        async with lock:
            await emit(notes.annotate(events))

    async def send_renamed() -> None:
        while True:
            await notes.arrival.wait()
            async with lock:
                renamed = notes.renamed()
                if renamed:
                    await emit(renamed)

    relay = asyncio.create_task(send_renamed())
    try:
        ended = await _pump(job, send)
        if ended.status != "shutdown":
            await notes.settled()
        async with lock:  # so it is between writes
            relay.cancel()
        await asyncio.wait([relay])
        if not relay.cancelled() and (failed := relay.exception()) is not None:
            raise failed  # a write failed: the client left
        renamed = notes.renamed()
        if renamed:
            await send(renamed)
        await send([job.end_event(ended)])
        return ended
    finally:
        relay.cancel()
        await asyncio.wait([relay])
        if not relay.cancelled():
            relay.exception()  # the client left: the run's own path says so


async def _pump(job: Job, send: Emit) -> Outcome:
    """The run itself, from start to the tool's last line; returns how it ended."""
    await send([job.start_event()])
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
                await send(events)
            if parser is not None:
                try:
                    tail = parser.finish()
                except Exception:
                    _parser_failed(job)
                    tail = []
                if tail:
                    await send(tail)
    except OSError:
        if job.run.pid is None and job.run.outcome is not None:  # it could not be spawned at all
            return job.run.outcome
        raise
    ended = job.run.outcome
    assert ended is not None
    return ended
