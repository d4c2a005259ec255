"""A source of events: what a sink writes, whichever kind of run it is.

A run here alone is a ``LocalRun``; a run from several nodes is the fan-out's
(``webtrace.nodes.fanout``). Either tells what its result's ``start`` holds
(``about``), runs to its last event (``end``, or ``done`` for several) handing
its events to the sink, and says how it ended for the access log; whatever
happens, ``close`` leaves nothing running.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Any

from ..events import Event, Outcome, outcome_end
from .job import Emit, Job, Pay, pump, start_job
from .plan import Here, plan_job
from .query import RunQuery


class Source(ABC):
    """One run's events, from its ``start`` to its ``final`` event."""

    final = "end"  # the event that ends it
    query: RunQuery

    @abstractmethod
    def about(self) -> dict[str, Any]:
        """What its result's description holds (a ``start``'s fields, before it runs)."""

    @abstractmethod
    async def run(self, emit: Emit, result: str | None) -> None:
        """Hand every event to ``emit`` (its ``start`` names ``result``), up to the
        final one. A failing ``emit`` (the visitor left) raises out of here."""

    @abstractmethod
    def abandoned(self) -> Event:
        """Its final event as it stands when its visitor left before it was sent."""

    @abstractmethod
    def ended(self) -> tuple[str, int | None] | None:
        """How it ended (its status, and a tool's exit code), once it has."""

    def reaping(self) -> asyncio.Future[Any] | None:
        """While a tool's group is still being reaped after a cancel: when that is done."""
        return None

    def close(self) -> None:
        """End whatever still runs (the visitor left, or the response failed)."""


class LocalRun(Source):
    """A run of a tool on this server."""

    def __init__(self, query: RunQuery, job: Job) -> None:
        self.query = query
        self.job = job

    def about(self) -> dict[str, Any]:
        start = dict(self.job.start_event().data)
        del start["result"]
        return start

    async def run(self, emit: Emit, result: str | None) -> None:
        await pump(self.job, emit, result)

    def abandoned(self) -> Event:
        run = self.job.run
        return outcome_end(run.outcome or Outcome("cancelled", None, 0.0, f"{self.job.spec.name} was stopped"))

    def ended(self) -> tuple[str, int | None] | None:
        outcome = self.job.run.outcome
        return None if outcome is None else (outcome.status, outcome.exit_code)

    def reaping(self) -> asyncio.Future[Any] | None:
        run = self.job.run
        return run.reaped if run.outcome is None else None

    def close(self) -> None:
        self.job.run.abandon()


async def local_run(query: RunQuery, here: Here, *, names: bool = True, pay: Pay | None = None) -> LocalRun:
    """The query's run on this server, its tool's slot taken; raises a Refusal.
    ``names``: whether hop rows get names, AS and country; ``pay``: how a continuous
    run pays its slices after the first."""
    return LocalRun(query, start_job(await plan_job(query, here), here, names=names, pay=pay))
