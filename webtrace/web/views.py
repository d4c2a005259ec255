"""HTTP glue: the page, the run routes (SSE and text), the check, health and metrics.

A run route takes its query (read once, by the rate limit: ``query``), makes it a
source of events (a run here, or from several nodes) and hands it to a sink.
Whatever refuses the request raises a Refusal, which ``webtrace.web.refusals``
turns into the response; nothing has started by then.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
import orjson
from aiohttp import hdrs, web

from ..nodes.fanout import NodesRun
from ..runs.plan import plan_job
from ..runs.source import Source, local_run
from .forwarded import CLIENT_IP
from .keys import HERE, NODES, RUNNER, TOOLS
from .metrics import METRICS
from .page import page_context
from .params import PAGE_ACTION, PAGE_AFTYPE, PAGE_FAMILY, PAGE_TARGET, PAGE_TOOL
from .query import query_of
from .ratelimit import SLICE_PAY
from .sinks import SSE, TEXT, Sink


async def _run_route(request: web.Request, sink: Sink) -> web.StreamResponse:
    """A run, here alone, or from several places when ``nodes=`` asks."""
    query = query_of(request)
    here = request.app[HERE]
    names = sink.names(query.spec)
    pay = request.get(SLICE_PAY)  # a continuous run's further slices
    source: Source
    if query.nodes is not None:
        source = NodesRun(query, request.app[NODES], here, request[CLIENT_IP], names=names, pay=pay)
    else:
        source = await local_run(query, here, names=names, pay=pay)
    return await sink.answer(request, source)


async def api_run(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/{tool}``: the run as Server-Sent Events (from several places with ``nodes=``)."""
    return await _run_route(request, SSE)


async def text_run(request: web.Request) -> web.StreamResponse:
    """``GET /ping|/trace|/mtr``: the original webtrace's plain-text stream."""
    return await _run_route(request, TEXT)


async def api_check(request: web.Request) -> web.Response:
    """``GET /api/v1/{tool}/check``: what ``api_run`` would answer, without running anything.

    EventSource cannot see why a stream was refused; the page asks here after a
    stream failed before it started, and shows the reason. With ``nodes=``, a 200
    names the nodes a check found down (their parts would end unavailable).
    """
    query = query_of(request)
    if query.nodes is None:  # with nodes, each node refuses for itself in the stream
        await plan_job(query, request.app[HERE])
        request.app[RUNNER].check_capacity()
        return web.Response(status=204)
    # The run would start; a node found down would end its part "unavailable": say which, and since when.
    down = [node for name in query.nodes if (node := request.app[NODES].named(name)) is not None and node.down]
    if not down:
        return web.Response(status=204)
    body = {"down": [{"name": node.name, "since": node.down_since_iso, "why": node.why_down}
                     for node in down],
            "message": " ".join(node.down_sentence() for node in down)}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


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
    """The page: the form filled in from the query (the page never refuses what it does not know)."""
    tools = list(request.app[TOOLS].values())
    query = request.query
    names = {alias: spec.name for spec in tools for alias in (spec.name, *spec.aliases)}
    default = tools[0].name if tools else ""
    tool = names.get(query.get(PAGE_TOOL.name) or query.get(PAGE_ACTION.name) or "", default)
    family = query.get(PAGE_FAMILY.name) or {"ipv4": "4", "ipv6": "6"}.get(query.get(PAGE_AFTYPE.name, ""), "auto")
    if family not in ("auto", "4", "6"):
        family = "auto"
    return page_context(request, tool=tool, target=query.get(PAGE_TARGET.name, ""), family=family)
