"""Refusals before a stream starts: JSON on the API, plain text on the text routes."""

from __future__ import annotations

import orjson
from aiohttp import web

from .jobs import UnknownTool
from .policy import PolicyDenied
from .runner import Busy, ShuttingDown
from .targets import ResolveError, TargetError
from .tools import ToolUnavailable

API_ROUTES = frozenset({"api_run", "api_check"})
BUSY_RETRY_AFTER = "5"


class HTTPProblem(Exception):
    """A refusal: HTTP status, a machine-readable code, a sentence, extra headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


# Each refusal the job layer raises, and how HTTP says it.
_PROBLEMS: tuple[tuple[type[Exception], int, str], ...] = (
    (UnknownTool, 404, "unknown_tool"),
    (TargetError, 400, "bad_request"),
    (PolicyDenied, 403, "target_denied"),
    (ResolveError, 422, "unresolvable"),
    (Busy, 503, "busy"),
    (ShuttingDown, 503, "shutting_down"),
    (ToolUnavailable, 503, "tool_unavailable"),
)


def as_problem(exc: Exception) -> HTTPProblem:
    """The HTTPProblem for a refusal; anything else is re-raised (a real error)."""
    if isinstance(exc, HTTPProblem):
        return exc
    for kind, status, code in _PROBLEMS:
        if isinstance(exc, kind):
            retry = isinstance(exc, (Busy, ShuttingDown))
            return HTTPProblem(status, code, str(exc), {"Retry-After": BUSY_RETRY_AFTER} if retry else None)
    raise exc


def problem_response(request: web.Request, problem: HTTPProblem) -> web.Response:
    route = request.match_info.route.name
    if route in API_ROUTES:
        # orjson: a flood of refusals is answered here, and encoding was a fifth of it.
        body = orjson.dumps({"error": {"code": problem.code, "message": problem.message}})
        return web.Response(
            body=body, status=problem.status, headers=problem.headers, content_type="application/json"
        )
    return web.Response(
        text=f"ERROR: {problem.message}\n", status=problem.status, headers=problem.headers
    )
