"""HTTP glue: the page, the run routes (SSE and text), the check, health and metrics.

A run route reads the query, plans and starts a job (webtrace.jobs) and hands
it to a sink (webtrace.web.sinks). Whatever refuses the request raises a
Refusal, which ``webtrace.web.refusals`` turns into the response; nothing has
started by then.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import hdrs, web

from ..jobs import Job, Plan, find_tool, plan_job, start_job
from ..net.targets import Family, parse_aftype, parse_family
from ..refusals import BadRequest
from ..tools import ToolSpec
from .accesslog import RUN, RUN_TARGET, RUN_TOOL
from .forwarded import CLIENT_IP
from .keys import PLATFORM, POLICY, RESOLVER, RUNNER, SETTINGS, TOOLS
from .metrics import METRICS
from .params import AFTYPE, EMBED, FAMILY, PAGE_ACTION, PAGE_AFTYPE, PAGE_FAMILY, PAGE_TARGET, PAGE_TOOL, TARGET, Param
from .sinks import sse_stream, text_stream


async def _plan(request: web.Request, spec: ToolSpec, family: Family) -> Plan:
    target = TARGET.read(request)
    if target is None or not target.strip():
        raise BadRequest("No target specified")
    request[RUN_TOOL] = spec.name
    request[RUN_TARGET] = target
    app = request.app
    return await plan_job(
        spec=spec,
        target_text=target,
        family=family,
        settings=app[SETTINGS],
        policy=app[POLICY],
        resolver=app[RESOLVER],
        platform=app[PLATFORM],
    )


async def _start(request: web.Request, spec: ToolSpec, family: Family) -> Job:
    plan = await _plan(request, spec, family)
    job = start_job(plan, settings=request.app[SETTINGS], runner=request.app[RUNNER])
    request[RUN] = job.run  # for the access log: how it ended
    return job


def _api_tool(request: web.Request) -> ToolSpec:
    return find_tool(request.app[TOOLS], request.match_info["tool"])


def _text_tool(request: web.Request) -> ToolSpec:
    route = request.match_info["route"]
    return next(spec for spec in request.app[TOOLS].values() if spec.text_route == route)


def _family(request: web.Request, param: Param, parse: Callable[[str | None], Family]) -> Family:
    return parse(param.read(request))


async def api_run(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/{tool}``: the run as Server-Sent Events."""
    spec = _api_tool(request)
    job = await _start(request, spec, _family(request, FAMILY, parse_family))
    return await sse_stream(request, job)


async def api_check(request: web.Request) -> web.Response:
    """``GET /api/v1/{tool}/check``: what ``api_run`` would answer, without running anything.

    EventSource cannot see why a stream was refused; the page asks here after a
    stream failed before it started, and shows the reason.
    """
    spec = _api_tool(request)
    await _plan(request, spec, _family(request, FAMILY, parse_family))
    request.app[RUNNER].check_capacity()
    return web.Response(status=204)


async def text_run(request: web.Request) -> web.StreamResponse:
    """``GET /ping|/trace|/mtr``: the original webtrace's plain-text stream."""
    spec = _text_tool(request)
    job = await _start(request, spec, _family(request, AFTYPE, parse_aftype))
    return await text_stream(request, job)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def metrics_view(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].render(request.app[RUNNER].active)
    resp = web.Response(body=body)
    resp.headers[hdrs.CONTENT_TYPE] = content_type
    return resp


@aiohttp_jinja2.template("index.html")
async def index(request: web.Request) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    tools = list(request.app[TOOLS].values())
    query = request.query
    names = {alias: spec.name for spec in tools for alias in (spec.name, *spec.aliases)}
    default = tools[0].name if tools else ""
    tool = names.get(query.get(PAGE_TOOL.name) or query.get(PAGE_ACTION.name) or "", default)
    family = query.get(PAGE_FAMILY.name) or {"ipv4": "4", "ipv6": "6"}.get(query.get(PAGE_AFTYPE.name, ""), "auto")
    if family not in ("auto", "4", "6"):
        family = "auto"
    return {
        "title": settings.title,
        "server_info": settings.server_info,
        "tools": tools,
        # What the page's script needs to know of the tools, as data.
        "config": {
            "tools": [
                {"name": s.name, "label": s.label, "text_route": s.text_route, "aliases": list(s.aliases)}
                for s in tools
            ],
        },
        "tool": tool,
        "target": query.get(PAGE_TARGET.name, ""),
        "family": family,
        "embed": query.get(EMBED.name) == "1",
        "client_ip": _as_address(request.get(CLIENT_IP, "")),
    }


def _as_address(text: str) -> str | None:
    """The visitor's address for the page, or None (e.g. behind a unix socket with no proxy)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
