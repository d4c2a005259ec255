"""A run from several places (``nodes=``): one stream back, every event tagged with
its ``node``, each node's own ``start`` ... ``end``, then ``done`` (design §9).

This server's own part is a local run as any other; each other node's part is
its own stream, read by ``relay``. Parts fail alone: one refused, unreachable
or broken off ends with its own ``end`` (after a ``start`` of its own, where
its node never sent one) while the others go on. When the visitor leaves,
every part is cancelled at once: the local tool's group is ended, and each
node's stream is closed, which ends the tool there.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..events import Event, done_event, end_since, runs_summary, start_event
from ..refusals import Refusal
from ..runs.job import Emit, Pay
from ..runs.plan import Here
from ..runs.query import RunQuery
from ..runs.source import Source, local_run
from .registry import Node, Nodes
from .relay import relay

log = logging.getLogger(__name__)

# Writes the events of one part, each tagged with its node.
PartEmit = Callable[[str, list[Event]], Awaitable[None]]


class VisitorLeft(Exception):
    """Writing to the visitor failed: every part ends with the stream. Not an OSError,
    so that no part mistakes it for its node failing."""


class NodesRun(Source):
    """A run from the query's nodes: this server's part and the others' relayed."""

    final = "done"

    def __init__(self, query: RunQuery, nodes: Nodes, here: Here, forwarded_for: str, *, names: bool = True,
                 pay: Pay | None = None) -> None:
        self.query = query
        self.registry = nodes
        self.here = here
        self.forwarded_for = forwarded_for  # the visitor, as each node is told
        self.names = names  # whether this server's part gives its hop rows names
        self.pay = pay  # how this server's own part of a continuous run pays its slices (each node's, there)
        self.nodes = [node for name in query.nodes or () if (node := nodes.named(name)) is not None]
        self.statuses: dict[str, str] = {node.name: "cancelled" for node in self.nodes}
        self.status: str | None = None
        self._ended: set[str] = set()
        self._begun: set[str] = set()

    def about(self) -> dict[str, Any]:
        start = self._start(None).data
        del start["result"]
        return {**start, "family": self.query.family.value, "nodes": list(self.query.nodes or ())}

    def _start(self, result: str | None) -> Event:
        """The start of a part its node never began (it refused, or could not be reached)."""
        query, options = self.query, self.query.options
        return start_event(tool=query.spec.name, target=query.target.strip(), address=None, family=None,
                           protocol=options.protocol, port=options.port, count=options.count, command=None,
                           result=result, continuous=query.continuous)

    def abandoned(self) -> Event:
        return done_event("cancelled", self.statuses)

    def ended(self) -> tuple[str, int | None] | None:
        return None if self.status is None else (self.status, None)

    async def run(self, emit: Emit, result: str | None) -> None:
        last: list[Event] = []  # the last part's end, which leaves with done: one write, not two

        async def tagged(node: str, events: list[Event]) -> None:
            if node in self._ended:
                return  # a part says how it ended once
            out = []
            for event in events:
                kind, data = event
                if kind == "start":
                    self._begun.add(node)
                    event = Event(kind, {**data, "result": result, "node": node})  # the one result of the whole run
                else:
                    if kind == "end":
                        if node not in self._begun:
                            self._begun.add(node)
                            out.append(Event("start", {**self._start(result).data, "node": node}))
                        self.statuses[node] = str(data["status"])
                        self._ended.add(node)
                    if data.get("node") != node:  # the relay tags a node's events; this server's own are not
                        event = Event(kind, {**data, "node": node})
                out.append(event)
            if len(self._ended) == len(self.nodes):
                last.extend(out)
                return
            try:
                await emit(out)
            except ConnectionError as exc:
                raise VisitorLeft from exc

        self.status = "cancelled"  # until done says otherwise
        try:
            async with asyncio.TaskGroup() as parts:  # the visitor leaving cancels them all
                for node in self.nodes:
                    parts.create_task(self._part(node, tagged))
        except* VisitorLeft as left:
            raise ConnectionError("the visitor left") from left.exceptions[0]
        self.status = runs_summary(self.statuses, continuous=self.query.continuous)
        await emit([*last, done_event(self.status, self.statuses)])

    async def _part(self, node: Node, emit: PartEmit) -> None:
        """One node's part; whatever goes wrong in it (a bug included) ends it alone."""
        started = time.monotonic()
        mine: Emit = functools.partial(emit, node.name)  # not a coroutine of its own: one fewer a read
        try:
            if node.local:
                await self._local_part(mine)
                return
            query, options = self.query, self.query.options
            params = {"target": query.target, "family": query.family.value, "protocol": options.protocol}
            if options.port is not None:
                params["port"] = str(options.port)
            if options.count is not None:
                params["count"] = str(options.count)
            if query.continuous:
                params["continuous"] = "true"
            await relay(self.registry, node, f"/api/v1/{query.spec.name}", params, self.forwarded_for, mine,
                        continuous=query.continuous)
        except VisitorLeft:
            raise
        except Exception:
            log.exception("%s's part of a run from several nodes failed on this server", node.name)
            try:
                await mine([end_since("unavailable",
                                      f"{node.name}'s part failed on this server; the other parts go on.", started)])
            except VisitorLeft:
                raise
            except Exception:
                pass  # said in the log above; the other parts go on

    async def _local_part(self, emit: Emit) -> None:
        """This server's part: a run as one without nodes would be, refusals included."""
        started = time.monotonic()
        try:
            part = await local_run(self.query, self.here, names=self.names, pay=self.pay)
        except Refusal as refusal:
            await emit([end_since("refused", refusal.message, started, code=refusal.code,
                                  http_status=refusal.status)])
            return
        try:
            await part.run(emit, None)
        finally:
            part.close()
