"""HTTP glue: the page, the run routes (SSE and text), the check, health and metrics.

A run route reads the query, plans and starts a job (webtrace.jobs) and hands
it to a sink (webtrace.web.sinks). Whatever refuses the request raises a
Refusal, which ``webtrace.web.refusals`` turns into the response; nothing has
started by then.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
import orjson
from aiohttp import hdrs, web

from ..jobs import Job
from ..results.recorder import Recorder
from .accesslog import RUN, RUN_TARGET, RUN_TOOL
from .forwarded import CLIENT_IP
from .keys import NODES, PLATFORM, RESULTS, RUNNER, SETTINGS, TOOLS
from .launch import plan_run, start_run
from .metrics import METRICS
from .fanout import fanout_sse, fanout_text
from .params import EMBED, PAGE_ACTION, PAGE_AFTYPE, PAGE_FAMILY, PAGE_TARGET, PAGE_TOOL, RunQuery, read_run
from .sinks import sse_stream, text_stream


def _name_run(request: web.Request, query: RunQuery) -> None:
    """What the access log says the request asked for, whatever becomes of it."""
    request[RUN_TOOL], request[RUN_TARGET] = query.spec.name, query.target


async def _start(request: web.Request, query: RunQuery) -> tuple[Job, Recorder | None]:
    app = request.app
    job = start_run(app, await plan_run(app, query))
    request[RUN] = job.run  # for the access log: how it ended
    recorder = app[RESULTS].start(job.start_event().data)
    if recorder is not None:
        job.result_id = recorder.id
    return job, recorder


Sink = Callable[[web.Request, Job, Recorder | None], Awaitable[web.StreamResponse]]
FanOut = Callable[[web.Request, RunQuery], Awaitable[web.StreamResponse]]


async def _run_route(request: web.Request, sink: Sink, fan_out: FanOut) -> web.StreamResponse:
    """A run, here alone, or from several places when ``nodes=`` asks."""
    query = read_run(request)
    _name_run(request, query)
    if query.nodes is not None:
        return await fan_out(request, query)
    return await sink(request, *await _start(request, query))


async def api_run(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/{tool}``: the run as Server-Sent Events (from several places with ``nodes=``)."""
    return await _run_route(request, sse_stream, fanout_sse)


async def api_check(request: web.Request) -> web.Response:
    """``GET /api/v1/{tool}/check``: what ``api_run`` would answer, without running anything.

    EventSource cannot see why a stream was refused; the page asks here after a
    stream failed before it started, and shows the reason.
    """
    query = read_run(request)
    if query.nodes is None:  # with nodes, each node refuses for itself in the stream
        _name_run(request, query)
        await plan_run(request.app, query)
        request.app[RUNNER].check_capacity()
    return web.Response(status=204)


async def text_run(request: web.Request) -> web.StreamResponse:
    """``GET /ping|/trace|/mtr``: the original webtrace's plain-text stream."""
    return await _run_route(request, text_stream, fanout_text)


async def nodes_view(request: web.Request) -> web.Response:
    """``GET /api/v1/nodes``: this server and the other vantage points, each with
    ``up`` as the last periodic check found it (never checked for this request)."""
    body = orjson.dumps({"nodes": [node.as_json() for node in request.app[NODES].all()]})
    return web.Response(body=body, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def metrics_view(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].render(request.app[RUNNER].active)
    resp = web.Response(body=body)
    resp.headers[hdrs.CONTENT_TYPE] = content_type
    return resp


@aiohttp_jinja2.template("index.html")
async def index(request: web.Request) -> dict[str, Any]:
    tools = list(request.app[TOOLS].values())
    query = request.query
    names = {alias: spec.name for spec in tools for alias in (spec.name, *spec.aliases)}
    default = tools[0].name if tools else ""
    tool = names.get(query.get(PAGE_TOOL.name) or query.get(PAGE_ACTION.name) or "", default)
    family = query.get(PAGE_FAMILY.name) or {"ipv4": "4", "ipv6": "6"}.get(query.get(PAGE_AFTYPE.name, ""), "auto")
    if family not in ("auto", "4", "6"):
        family = "auto"
    return page_context(request, tool=tool, target=query.get(PAGE_TARGET.name, ""), family=family)


def page_context(request: web.Request, *, tool: str, target: str, family: str, root: str = "",
                 result: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the page template shows: the form filled in, and for a result's page
    (``root``: the way back to the site's root, for its relative links) the result."""
    settings = request.app[SETTINGS]
    tools = list(request.app[TOOLS].values())
    nodes = [node.as_json() for node in request.app[NODES].all()]
    return {
        "title": settings.title,
        "server_info": settings.server_info,
        "tools": tools,
        # What the page's script needs to know of the tools (and the result shown), as data.
        "config": {
            "tools": [
                {"name": s.name, "label": s.label, "text_route": s.text_route, "aliases": list(s.aliases),
                 "protocols": list(argv.protocols), "ports": s.ports, "count": s.count is not None}
                for s in tools if (argv := s.argv_on(request.app[PLATFORM])) is not None
            ],
            "root": root,
            "result": result,
            "nodes": nodes,
        },
        "max_count": settings.max_count,
        "tool": tool,
        "target": target,
        "family": family,
        "root": root,
        "result": result,
        "nodes": nodes,
        "embed": request.query.get(EMBED.name) == "1",
        "client_ip": _as_address(request.get(CLIENT_IP, "")),
    }


def _as_address(text: str) -> str | None:
    """The visitor's address for the page, or None (e.g. behind a unix socket with no proxy)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
