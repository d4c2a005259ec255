"""A run from several places (``nodes=``): one stream back, every event tagged with
its ``node``, each node's own ``start`` ... ``end``, then ``done`` (design §9).

This server's own part is a job as any other; each other node's part is its
own stream, read by ``nodes.relay``. Parts fail alone: one refused, unreachable
or broken off ends with its own ``end`` while the others go on. When the
visitor leaves, every part is cancelled at once: the local tool's group is
ended, and each node's stream is closed, which ends the tool there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..events import Event
from ..jobs import Emit, pump
from ..nodes.registry import Node
from ..nodes.relay import ended, relay
from ..refusals import Refusal
from ..results.recorder import Recorder
from ..tools import ToolSpec
from .accesslog import RUNS_ENDED
from .forwarded import CLIENT_IP
from .keys import NODES, RESULTS
from .launch import plan_run, start_run
from .params import RunQuery
from .sinks import TextLines, event_stream, rate_headers, sse_writer, text_response, text_writer

log = logging.getLogger(__name__)

# Writes the events of one part, each tagged with its node.
PartEmit = Callable[[str, list[Event]], Awaitable[None]]


def summary(statuses: dict[str, str]) -> str:
    """The whole run's status: ok if every part was, failed if none was, else partial."""
    good = sum(status == "ok" for status in statuses.values())
    return "ok" if good == len(statuses) else "failed" if good == 0 else "partial"


async def fanout_sse(request: web.Request, query: RunQuery) -> web.StreamResponse:
    recorder = _recorder(request, query)
    async with event_stream(request, rate_headers(request)) as resp:
        await _run_parts(request, query, recorder, sse_writer(request, resp, recorder))
    return resp


async def fanout_text(request: web.Request, query: RunQuery) -> web.StreamResponse:
    """The text routes with ``nodes=``: each line prefixed with ``[name] ``."""
    recorder = _recorder(request, query)
    resp = text_response(request, recorder)
    text = NodeLines(query.spec, recorder.started_at if recorder is not None else time.time())
    await resp.prepare(request)
    await _run_parts(request, query, recorder, text_writer(request, resp, recorder, text.lines))
    await resp.write_eof()
    return resp


class NodeLines:
    """The text of a run from several nodes: each node's lines as its text route
    prints them, prefixed with ``[name] ``. Pure."""

    def __init__(self, spec: ToolSpec, started: float) -> None:
        self.spec = spec
        self.started = started
        self._per_node: dict[str, TextLines] = {}

    def lines(self, event: Event) -> list[str]:
        node = event.data.get("node")
        if event.kind == "done" or not isinstance(node, str):
            return []
        text = self._per_node.get(node)
        if text is None:
            text = self._per_node[node] = TextLines(self.spec, node, self.started)
        return [f"[{node}] {line}" for line in text.lines(event)]


def _recorder(request: web.Request, query: RunQuery) -> Recorder | None:
    options = query.options
    return request.app[RESULTS].start({
        "tool": query.spec.name, "target": query.target.strip(), "address": None, "family": query.family.value,
        "protocol": options.protocol, "port": options.port, "count": options.count, "command": None,
        "nodes": list(query.nodes or ()),
    }, final="done")


class VisitorLeft(Exception):
    """Writing to the visitor failed: every part ends with the stream. Not an OSError,
    so that no part mistakes it for its node failing."""


async def _run_parts(request: web.Request, query: RunQuery, recorder: Recorder | None, write: Emit) -> None:
    registry = request.app[NODES]
    nodes = [node for name in query.nodes or () if (node := registry.named(name)) is not None]
    statuses: dict[str, str] = {node.name: "cancelled" for node in nodes}
    ended_parts: set[str] = set()
    result_id = recorder.id if recorder is not None else None

    async def emit(node: str, events: list[Event]) -> None:
        if node in ended_parts:
            return  # a part says how it ended once
        tagged = []
        for kind, data in events:
            data = {**data, "node": node}
            if kind == "start":
                data["result"] = result_id  # the one result of the whole run
            elif kind == "end":
                statuses[node] = str(data["status"])
                ended_parts.add(node)
            tagged.append(Event(kind, data))
        try:
            await write(tagged)
        except ConnectionError as exc:
            raise VisitorLeft from exc

    request[RUNS_ENDED] = "cancelled"  # until done says otherwise
    try:
        async with asyncio.TaskGroup() as parts:  # the visitor leaving cancels them all
            for node in nodes:
                parts.create_task(_part(request, query, node, emit))
        request[RUNS_ENDED] = summary(statuses)
        await write([Event("done", {"status": request[RUNS_ENDED], "nodes": statuses})])
    except* (VisitorLeft, ConnectionError):
        pass  # the visitor left: every part was cancelled with its stream
    finally:
        if recorder is not None:  # the visitor left: the result still says how each part ended
            recorder.finish({"status": "cancelled", "nodes": statuses})


async def _part(request: web.Request, query: RunQuery, node: Node, emit: PartEmit) -> None:
    """One node's part; whatever goes wrong in it (a bug included) ends it alone."""
    started = time.monotonic()

    async def mine(events: list[Event]) -> None:
        await emit(node.name, events)

    try:
        if node.local:
            await _local_part(request, query, mine)
            return
        params = {"target": query.target, "family": query.family.value, "protocol": query.options.protocol}
        if query.options.port is not None:
            params["port"] = str(query.options.port)
        if query.options.count is not None:
            params["count"] = str(query.options.count)
        await relay(request.app[NODES], node, f"/api/v1/{query.spec.name}", params, request[CLIENT_IP], mine)
    except VisitorLeft:
        raise
    except Exception:
        log.exception("%s's part of a run from several nodes failed on this server", node.name)
        try:
            await mine([ended("unavailable", f"{node.name}'s part failed on this server; the other parts go on.",
                              started)])
        except VisitorLeft:
            raise
        except Exception:
            pass  # said in the log above; the other parts go on


async def _local_part(request: web.Request, query: RunQuery, emit: Emit) -> None:
    """This server's part: a job as a run without nodes would be, refusals included."""
    app = request.app
    started = time.monotonic()
    try:
        job = start_run(app, await plan_run(app, query))
    except Refusal as refusal:
        await emit([ended("refused", refusal.message, started, code=refusal.code, http_status=refusal.status)])
        return
    try:
        await pump(job, emit)
    finally:
        job.run.abandon()
