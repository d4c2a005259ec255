"""A job: one tool run towards one checked address, told as a sequence of events.

This is where the plan, the runner and the parsers meet: ``start_job`` takes a
runner slot for a plan (or refuses: the server is full), and ``pump`` runs it,
handing its events to a function that writes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from ..events import Event, Outcome, Parser, outcome_end, start_event
from ..hops import HopNotes
from ..process.runner import Run
from ..tools import ToolSpec
from .plan import Here, Plan

log = logging.getLogger(__name__)

# Writes a batch of events: those of one read of the tool's output, in order.
Emit = Callable[[list[Event]], Awaitable[None]]
# Pays a continuous run's next slice from its visitor's budget: None once paid, or
# the sentence its end gives when the budget cannot pay.
Pay = Callable[[], Awaitable[str | None]]


@dataclass(slots=True)
class Job:
    plan: Plan
    run: Run
    parser: Parser | None  # None: the output is streamed as lines only
    notes: HopNotes | None = None  # None: hop rows go out as the parser made them
    parser_failed: bool = False  # logged once a run
    pay: Pay | None = None  # a continuous run's slices; None: nothing to pay as it goes
    slice_s: float = 0.0  # a continuous run pays a run for each of these begun
    most_s: float = 0.0  # the most a continuous run may last

    @property
    def spec(self) -> ToolSpec:
        return self.plan.spec

    def start_event(self, result: str | None = None) -> Event:
        """Its ``start``; ``result``: its result's id, where results are kept."""
        plan = self.plan
        return start_event(tool=plan.spec.name, target=plan.target.text, address=plan.address_text,
                           family=plan.family.value, protocol=plan.options.protocol, port=plan.options.port,
                           count=plan.options.count, command=plan.command, result=result,
                           continuous=plan.continuous)


def start_job(plan: Plan, here: Here, *, names: bool = True, pay: Pay | None = None) -> Job:
    """Reserve a runner slot for the plan; raises Busy or ShuttingDown. Hop rows
    get names, AS and country from the server's directory, where it has any, unless
    ``names`` is False (what shows the run has no use for them). ``pay``: how a
    continuous run pays each slice after its first (None: it is not charged)."""
    spec = plan.spec
    if plan.continuous:
        most = here.continuous_max_s
        run = here.runner.run(plan.argv, name=spec.name, timeout=most, executable=plan.executable,
                              timeout_words=f"{spec.name} ran for {most:g} s, the most a continuous run may here")
        counting = spec.count
        total = math.ceil(most / counting.interval_s) if counting is not None else 0
    else:
        run = here.runner.run(plan.argv, name=spec.name, timeout=here.run_timeout, executable=plan.executable)
        total = plan.probes
    parser = spec.parser_for(plan.address_text, total, plan.platform)
    directory = here.directory
    wanted = names and directory is not None and parser is not None and spec.hops
    return Job(plan, run, parser, directory.for_run() if wanted and directory is not None else None,
               pay=pay if plan.continuous else None, slice_s=here.slice_s, most_s=here.continuous_max_s)


def _parser_failed(job: Job) -> None:
    """A line the parser cannot read is streamed as text alone and the run goes
    on: a parser error must never cut a stream short. Logged once a run."""
    if not job.parser_failed:
        job.parser_failed = True
        log.warning("the %s parser failed; such lines are streamed as text", job.spec.name, exc_info=True)


async def pump(job: Job, emit: Emit, result: str | None = None) -> Outcome:
    """Run the job, handing its events to ``emit`` (its ``start`` names ``result``,
    its result's id); returns how the run ended.

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
        ended = await _pump(job, emit, result)
        await emit([outcome_end(ended)])
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
        ended = await _pump(job, send, result)
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
        await send([outcome_end(ended)])
        return ended
    finally:
        relay.cancel()
        await asyncio.wait([relay])
        if not relay.cancelled():
            relay.exception()  # the client left: the run's own path says so


async def _pump(job: Job, send: Emit, result: str | None) -> Outcome:
    """The run itself, from start to the tool's last line; returns how it ended."""
    await send([job.start_event(result)])
    try:
        parser = job.parser
        async with job.run, (_paying(job) if job.pay is not None else _NOT_PAYING):
            timed = _Clock(job.most_s) if job.plan.continuous else None
            async for lines in job.run.batches():
                events: list[Event] = []
                for line in lines:
                    events.append(Event("line", {"text": line}))
                    if parser is not None:
                        try:
                            events.extend(parser.feed(line))
                        except Exception:
                            _parser_failed(job)
                if timed is not None:
                    timed.stamp(events)
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


class _Clock:
    """A continuous run's time, told in its ``progress``: the seconds run and the most."""

    def __init__(self, most_s: float) -> None:
        self.started = asyncio.get_running_loop().time()
        self.most = most_s

    def stamp(self, events: list[Event]) -> None:
        now = asyncio.get_running_loop().time()
        for kind, data in events:
            if kind == "progress":
                data["elapsed_s"] = round(now - self.started, 1)
                data["max_s"] = self.most


# A run that pays nothing as it goes (any but a continuous one) enters no generator for it.
_NOT_PAYING: contextlib.nullcontext[None] = contextlib.nullcontext()


@contextlib.asynccontextmanager
async def _paying(job: Job) -> AsyncIterator[None]:
    """While a continuous run goes on, each slice after the first is paid as it
    begins; a budget that cannot pay ends the run with status ``limit``."""
    pay, slice_s = job.pay, job.slice_s

    async def pay_as_it_goes() -> None:
        assert pay is not None
        while True:
            await asyncio.sleep(slice_s)
            refused = await pay()
            if refused is not None:
                job.run.stop("limit", refused)
                return

    payer = asyncio.create_task(pay_as_it_goes())
    try:
        yield
    finally:
        payer.cancel()
        await asyncio.wait([payer])
        if not payer.cancelled() and (failed := payer.exception()) is not None:
            log.warning("a continuous %s run's slice could not be charged (%s); it goes on", job.spec.name, failed)
