"""Every refusal, wherever raised, becomes one response here: JSON on the API, an
ERROR line on the text routes, with its status, code and Retry-After; counted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from webtrace.net.policy import PolicyDenied
from webtrace.net.targets import ResolveError, TargetError
from webtrace.process.runner import Busy, ShuttingDown
from webtrace.refusals import BadRequest, Refusal, UnknownTool
from webtrace.tools import ToolUnavailable
from webtrace.web.metrics import METRICS, Metrics
from webtrace.web.ratelimit import ClientBusy, RateLimited
from webtrace.web.refusals import setup_refusals
from webtrace.web.route import Route
from webtrace.web.routes import setup_routes

KINDS: list[tuple[Refusal, int, str, str | None]] = [
    (BadRequest("No target specified"), 400, "bad_request", None),
    (TargetError("the target must not start with '-'"), 400, "bad_request", None),
    (PolicyDenied("127.0.0.1 is a loopback address"), 403, "target_denied", None),
    (UnknownTool("there is no tool called 'nmap' here"), 404, "unknown_tool", None),
    (ResolveError("nothing.example does not resolve"), 422, "unresolvable", None),
    (RateLimited("Too many runs", retry_after_s=42), 429, "rate_limited", "42"),
    (ClientBusy("You already have 2 runs in progress", retry_after_s=5), 429, "client_busy", "5"),
    (Busy("the server is busy"), 503, "busy", "5"),
    (ShuttingDown("the server is shutting down"), 503, "shutting_down", "5"),
    (ToolUnavailable("mtr is not installed on this server"), 503, "tool_unavailable", None),
]


def refusing_app(refusal: Refusal) -> web.Application:
    app = web.Application()
    app[METRICS] = Metrics()
    setup_refusals(app)

    async def refuse(request: web.Request) -> web.Response:
        raise refusal

    setup_routes(app, [Route("api", "/api", refuse, budget="none", refuses="json", summary="refuses as JSON"),
                       Route("text", "/text", refuse, budget="none", refuses="text", summary="refuses as text")])
    return app


@pytest.mark.parametrize(("refusal", "status", "code", "retry_after"), KINDS, ids=[k[2] + str(k[1]) for k in KINDS])
async def test_a_refusal_becomes_its_response_and_is_counted(
    aiohttp_client: Callable[..., Any], refusal: Refusal, status: int, code: str, retry_after: str | None
) -> None:
    client = await aiohttp_client(refusing_app(refusal))
    api = await client.get("/api")
    assert api.status == status and api.content_type == "application/json"
    assert await api.json() == {"error": {"code": code, "message": refusal.message}}
    assert api.headers.get("Retry-After") == retry_after
    text = await client.get("/text")
    assert text.status == status and text.content_type == "text/plain"
    assert await text.text() == f"ERROR: {refusal.message}\n"
    assert text.headers.get("Retry-After") == retry_after
    metrics, _ = client.server.app[METRICS].render(0)
    assert f'webtrace_refused_total{{reason="{code}"}} 2.0' in metrics.decode()


async def test_anything_else_is_not_a_refusal(aiohttp_client: Callable[..., Any]) -> None:
    app = web.Application()
    app[METRICS] = Metrics()
    setup_refusals(app)

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug, not a refusal")

    app.router.add_get("/api", broken, name="api_run")
    client = await aiohttp_client(app)
    assert (await client.get("/api")).status == 500
