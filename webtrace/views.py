"""HTTP glue: the page, the SSE stream, the seed-compatible text stream, health and errors.

Views parse the query, plan and start a job (webtrace.jobs) and pick a sink;
refusals become JSON on the API and plain text on the text routes, before any
process starts.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Callable
from typing import Any

import aiohttp_jinja2
import orjson
from aiohttp import web
from aiohttp_sse import sse_response

from . import keys
from .events import Event
from .jobs import Emit, Job, Plan, plan_job, pump, start_job
from .problems import HTTPProblem, as_problem, problem_response
from .targets import Family, TargetError, parse_aftype, parse_family
from .tools import TOOL_NAMES

SSE_PING_INTERVAL = 10.0
# A client that stops reading without leaving must not hold its run: after this
# long on one write it is treated as gone, and the run is ended (webtrace.stalls).
SEND_TIMEOUT = 30.0
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# The original webtrace's route names for its tools.
TEXT_ROUTES = {"ping": "ping", "trace": "traceroute", "mtr": "mtr"}
PAGE_TOOL_ALIASES = {"trace": "traceroute", "traceroute": "traceroute", "ping": "ping", "mtr": "mtr"}


def single(request: web.Request, name: str) -> str | None:
    """A query parameter given at most once (a repeated one is ambiguous: 400)."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise HTTPProblem(400, "bad_request", f"{name} is given more than once")
    return values[0] if values else None


async def _plan(request: web.Request, tool: str, target: str | None, family: Family) -> Plan:
    app = request.app
    if target is None or not target.strip():
        raise HTTPProblem(400, "bad_request", "No target specified")
    request[keys.RUN_TOOL] = tool
    request[keys.RUN_TARGET] = target
    try:
        return await plan_job(
            tool=tool,
            target_text=target,
            family=family,
            settings=app[keys.SETTINGS],
            tools=app[keys.TOOLS],
            policy=app[keys.POLICY],
            resolver=app[keys.RESOLVER],
        )
    except Exception as exc:
        raise _refused(request, exc) from None


async def _prepare(request: web.Request, tool: str, target: str | None, family: Family) -> Job:
    plan = await _plan(request, tool, target, family)
    app = request.app
    try:
        job = start_job(
            plan, settings=app[keys.SETTINGS], runner=app[keys.RUNNER], platform=app[keys.PLATFORM]
        )
    except Exception as exc:
        raise _refused(request, exc) from None
    request[keys.RUN] = job.run  # for the access log: how it ended
    return job


def _refused(request: web.Request, exc: Exception) -> HTTPProblem:
    problem = as_problem(exc)
    request.app[keys.METRICS].refused(problem.code)
    return problem


def _api_tool(request: web.Request) -> str:
    tool = request.match_info["tool"]
    if tool not in request.app[keys.TOOLS]:
        raise HTTPProblem(404, "unknown_tool", f"there is no tool called {tool!r} here")
    return tool


async def api_run(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/{tool}``: the run as Server-Sent Events."""
    try:
        tool = _api_tool(request)
        family = _family(single(request, "family"), parse_family)
        job = await _prepare(request, tool, single(request, "target"), family)
    except HTTPProblem as problem:
        return problem_response(request, problem)

    try:
        async with sse_response(
            request, headers=_rate_headers(request), ping_interval=SSE_PING_INTERVAL
        ) as resp:
            ids = itertools.count(1)

            async def emit(events: list[Event]) -> None:
                await _send(request, resp, b"".join(sse_frame(next(ids), e) for e in events))

            await _run(job, emit)
    finally:
        _settle(job)
    return resp


async def _send(request: web.Request, resp: web.StreamResponse, data: bytes) -> None:
    stalls = request.app[keys.STALLS]
    stalls.writing(request)
    try:
        await resp.write(data)
    finally:
        stalls.written(request)


def sse_frame(event_id: int, event: Event) -> bytes:
    """One SSE event. JSON escapes CR and LF, so ``data`` is always a single line.

    orjson: encoding is the largest cost of a busy stream after the writes themselves."""
    head = f"id: {event_id}\r\nevent: {event.kind}\r\ndata: ".encode()
    return head + orjson.dumps(event.data) + b"\r\n\r\n"


async def api_check(request: web.Request) -> web.Response:
    """``GET /api/v1/{tool}/check``: what ``api_run`` would answer, without running anything.

    EventSource cannot see why a stream was refused; the page asks here after a
    stream failed before it started, and shows the reason.
    """
    try:
        tool = _api_tool(request)
        family = _family(single(request, "family"), parse_family)
        await _plan(request, tool, single(request, "target"), family)
        request.app[keys.RUNNER].check_capacity()
    except HTTPProblem as problem:
        return problem_response(request, problem)
    except Exception as exc:
        return problem_response(request, _refused(request, exc))
    return web.Response(status=204)


async def text_run(request: web.Request) -> web.StreamResponse:
    """``GET /ping|/trace|/mtr``: the original webtrace's plain-text stream."""
    tool = TEXT_ROUTES[request.match_info["route"]]
    try:
        family = _family(single(request, "aftype"), parse_aftype)
        job = await _prepare(request, tool, single(request, "target"), family)
    except HTTPProblem as problem:
        return problem_response(request, problem)

    resp = web.StreamResponse(headers={**STREAM_HEADERS, **_rate_headers(request)})
    resp.content_type = "text/plain"
    resp.charset = "utf-8"

    async def emit(events: list[Event]) -> None:
        out = []
        for event in events:
            if event.kind == "line":
                out.append(terminal_safe(event.data["text"]))
            elif event.kind == "end" and (trailer := text_trailer(tool, event.data)):
                out.append(trailer)
        if out:
            await _send(request, resp, ("\n".join(out) + "\n").encode("utf-8", "replace"))

    try:
        await resp.prepare(request)
        await _run(job, emit)
        await resp.write_eof()
    finally:
        _settle(job)
    return resp


# C0 and C1 controls but tab: what a terminal would act on (colours, cursor moves,
# a title, a lone CR that rewrites the line so far).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_TRAILER_WORDS = ("ERROR:", "TIMEOUT:")


def terminal_safe(line: str) -> str:
    """A tool's line for a curl user's terminal: control characters shown escaped
    (``\\x1b``), and never beginning like webtrace's own trailer line."""
    line = _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", line)
    return " " + line if line.startswith(_TRAILER_WORDS) else line


def text_trailer(tool: str, end: dict[str, Any]) -> str | None:
    """The closing line of a text stream that did not end well (the original's wording)."""
    status = end["status"]
    if status == "ok":
        return None
    if status == "timeout":
        return f"TIMEOUT: {end['message']}"
    if status == "failed" and isinstance(end.get("exit_code"), int) and end["exit_code"] > 0:
        return f"ERROR: {tool} exited with status {end['exit_code']}"
    return f"ERROR: {end['message']}"


async def _run(job: Job, emit: Emit) -> None:
    try:
        await pump(job, emit)
    except ConnectionError:
        pass  # the client left; leaving the run's context ended the process group


def _settle(job: Job) -> None:
    """However the handler ends, a run that never started ends now."""
    job.run.abandon()


def _family(value: str | None, parse: Callable[[str | None], Family]) -> Family:
    try:
        return parse(value)
    except TargetError as exc:
        raise HTTPProblem(400, "bad_request", str(exc)) from None


def _rate_headers(request: web.Request) -> dict[str, str]:
    return dict(request.get(keys.RATE_HEADERS, {}))


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def metrics_view(request: web.Request) -> web.Response:
    body, content_type = request.app[keys.METRICS].render(request.app[keys.RUNNER].active)
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = content_type
    return resp


@aiohttp_jinja2.template("index.html")
async def index(request: web.Request) -> dict[str, Any]:
    settings = request.app[keys.SETTINGS]
    query = request.query
    tool = PAGE_TOOL_ALIASES.get(query.get("tool") or query.get("action") or "", "mtr")
    family = query.get("family") or {"ipv4": "4", "ipv6": "6"}.get(query.get("aftype", ""), "auto")
    if family not in ("auto", "4", "6"):
        family = "auto"
    return {
        "title": settings.title,
        "server_info": settings.server_info,
        "tools": [name for name in TOOL_NAMES if name in request.app[keys.TOOLS]],
        "tool": tool,
        "target": query.get("target", ""),
        "family": family,
        "embed": query.get("embed") == "1",
        "client_ip": _as_address(request.get(keys.CLIENT_IP, "")),
    }


def _as_address(text: str) -> str | None:
    """The visitor's address for the page, or None (e.g. behind a unix socket with no proxy)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
