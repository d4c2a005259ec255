"""The one table of routes (design §11): every route once, with its path, handler,
parameters, the budget it spends, how it refuses, and its description.

The rate limit (the budget), the refusals (the format), the access log (whether
it runs) and the API document (everything) read these records; ``setup_routes``
adds them to the router, and a record that states no budget stops start-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web

from ..settings import SettingsError
from . import compare, openapi, results, views
from .keys import TOOLS
from .params import (
    AFTYPE, CONTINUOUS, COUNT, EMBED, FAMILY, FORMAT, LAST_EVENT_ID, NODES, PAGE_ACTION, PAGE_AFTYPE, PAGE_CONTINUOUS,
    PAGE_COUNT, PAGE_FAMILY, PAGE_PORT, PAGE_PROTOCOL, PAGE_TARGET, PAGE_TOOL, PORT, PROTOCOL, TARGET,
)
from .query import QUERIES
from .route import BUDGETS, ROUTE, Route

RUN_PARAMS = (TARGET, FAMILY, PROTOCOL, PORT, COUNT, CONTINUOUS, NODES)
TEXT_ROUTES = "{text_route}"  # in a path: the text routes of the tools offered

# No HEAD on run routes: aiohttp would run the handler and the tool, and its output
# would follow a bodiless HEAD answer on a kept-alive connection, where the client
# reads it as the next response. They answer 405.
ROUTES: tuple[Route, ...] = (
    Route("index", "/", views.index, budget="none", refuses="page", summary="The page",
          description="Fills the form from the query and, given a target, runs at once (a permalink).",
          params=(PAGE_TOOL, PAGE_ACTION, PAGE_TARGET, PAGE_FAMILY, PAGE_AFTYPE, PAGE_PROTOCOL, PAGE_PORT,
                  PAGE_COUNT, PAGE_CONTINUOUS, EMBED)),
    Route("nodes", "/api/v1/nodes", views.nodes_view, budget="none", refuses="json",  # before /api/v1/{tool}
          summary="The vantage points: this server and the other webtraces it lists", describe=openapi.nodes),
    Route("openapi", "/api/v1/openapi.json", openapi.openapi_view, budget="none", refuses="json",
          summary="This document", describe=openapi.openapi),
    Route("api_run", "/api/v1/{tool}", views.api_run, budget="run", refuses="json", tool="path",
          allow_head=False, params=RUN_PARAMS, describe=openapi.api_run,
          summary="Run a tool, as Server-Sent Events",
          description="A stream of events, each with `event:`, an increasing `id:` and JSON `data:`: first "
                      "`start`, then the tool's `line`s with what they mean (`reply`, `summary`, `hop`, `trim`, "
                      "`progress`), last `end`. The server sends a comment every few seconds while the tool is "
                      "quiet. A request carrying Last-Event-ID (an EventSource reconnecting after the end) is "
                      "answered 204 and runs nothing."),
    Route("api_check", "/api/v1/{tool}/check", views.api_check, budget="check", refuses="json", tool="path",
          allow_head=False, params=RUN_PARAMS, describe=openapi.api_check,
          summary="What a run would answer, without running",
          description="204 where the run would start, else its refusal; spends nothing of the run budget."),
    Route("text_run", f"/{TEXT_ROUTES}", views.text_run, budget="run", refuses="text", tool="text_route",
          allow_head=False, params=(TARGET, AFTYPE, FAMILY, PROTOCOL, PORT, COUNT, CONTINUOUS, NODES),
          describe=openapi.text_run,
          summary="Run a tool, as plain text",
          description="The original webtrace's stream: the tool's lines (control characters shown as \\xNN), "
                      "and an `ERROR: ...` or `TIMEOUT: ...` line when the run did not end well."),
    Route("result_page", "/r/{result_id}", results.result_page, budget="results", refuses="page",
          describe=openapi.result_page, summary="A result, as the page shows a live run",
          description="Live while the run goes on. Reading spends no run."),
    Route("result_json", "/api/v1/results/{result_id}", results.result_json, budget="results", refuses="json",
          params=(FORMAT,), describe=openapi.result_json,
          summary="A result, as JSON (or as its text route printed it)"),
    Route("result_events", "/api/v1/results/{result_id}/events", results.result_events, budget="results",
          refuses="json", allow_head=False, params=(LAST_EVENT_ID,), describe=openapi.result_events,
          summary="A result, as Server-Sent Events: replayed, then live until its end",
          description="Every event with its original id; Last-Event-ID (or ?last_event_id=) resumes after it. "
                      "A result that ended with nothing after it: 204."),
    Route("comparison_page", "/compare/{a}/{b}", compare.comparison_page, budget="results", refuses="page",
          describe=openapi.comparison_page, summary="Two results of one tool, laid against each other, as a page",
          description="Live while either run goes on. Reading spends no run."),
    Route("comparison_json", "/api/v1/compare/{a}/{b}", compare.comparison_json, budget="results",
          refuses="json", describe=openapi.comparison_json,
          summary="Two results of one tool, laid against each other",
          description="A verdict sentence first, then place by place: hop by hop the hosts in each, whether the "
                      "hop changed, and loss and average in each with their change (b - a); for ping, each "
                      "statistic and both runs' replies. Different tools: 400; an unknown id: 404 naming it."),
    Route("healthz", "/healthz", views.healthz, budget="none", refuses="text", summary="Liveness",
          describe=openapi.healthz),
    Route("metrics", "/metrics", views.metrics_view, budget="none", refuses="text", summary="Prometheus metrics",
          description="Runs by tool and status, refusals by reason, durations, runs in progress.",
          describe=openapi.metrics),
    Route("static", "/static/{filename}", None, budget="none", refuses="text",
          summary="The page's script, style sheet and icon", describe=openapi.static),
)


def setup_routes(app: web.Application, routes: Iterable[Route] = ROUTES) -> None:
    """Every route of the table in the router, in its order (the order routes match in)."""
    table: dict[str, Route] = {}
    for route in routes:
        if route.budget not in BUDGETS:
            raise SettingsError(f"the route {route.name} ({route.path}) does not say what budget it spends: "
                                f"give it budget= one of {', '.join(BUDGETS)}")
        if route.name in table:
            raise SettingsError(f"the route {route.name} is in the table twice")
        table[route.name] = route
        _add(app, route)
    app[ROUTE] = table
    app[QUERIES] = {}


def _add(app: web.Application, route: Route) -> None:
    if route.handler is None:  # the static files: served where templates.py found them
        return
    path = route.path
    if TEXT_ROUTES in path:
        names = "|".join(sorted(re.escape(spec.text_route) for spec in app[TOOLS].values()))
        if not names:
            return
        path = path.replace(TEXT_ROUTES, f"{{route:{names}}}")
    if route.method == "GET":
        app.router.add_get(path, route.handler, name=route.name, allow_head=route.allow_head)
    else:
        app.router.add_route(route.method, path, route.handler, name=route.name)
