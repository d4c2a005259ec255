"""The API as an OpenAPI 3.1 document, built from the definitions the server uses.

Routes come from the application's router (a named route this module cannot
describe stops the document from being built, so no route goes undescribed),
tools and text routes from the tool records, query parameters from
``webtrace.web.params``, refusal codes from the Refusal family, event names
from ``webtrace.events.Kind``. Served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, get_args

import orjson
from aiohttp import hdrs, web

from ..events import EVENT_DATA, Kind
from ..refusals import Refusal
from ..settings import Settings
from ..tools import ToolSpec
from .keys import SETTINGS, TOOLS
from .params import ROUTE_PARAMS, Param

VERSION = "1.0.0"
JSON = "application/json"
SSE = "text/event-stream"
TEXT = "text/plain"

# Header names as plain strings (aiohttp's are case-insensitive strings JSON encoders refuse).
RETRY_AFTER = str(hdrs.RETRY_AFTER)
LAST_EVENT_ID = str(hdrs.LAST_EVENT_ID)

Schema = dict[str, Any]

_HEADERS: Mapping[str, Schema] = {
    RETRY_AFTER: {"description": "Seconds to wait before asking again.", "schema": {"type": "integer"}},
    "RateLimit-Limit": {"description": "Runs the tightest limit allows.", "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Runs left in it.", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until it frees a run.", "schema": {"type": "integer"}},
}
_RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
# Which statuses a refusal of a run route can have, and what they mean.
_REFUSAL_STATUSES = {
    400: "A malformed target or parameter.",
    403: "The target is denied by this server's address policy.",
    404: "There is no such tool here.",
    422: "The target does not resolve (or not in the family asked for).",
    429: "Rate limited, or too many runs at once for this client.",
    503: "The server is busy, shutting down, or does not have the tool.",
}


def refusal_kinds() -> list[type[Refusal]]:
    """Every kind of refusal the server can raise (each module that defines one is
    imported by the time the application exists)."""
    found: list[type[Refusal]] = []
    pending: list[type[Refusal]] = [Refusal]
    while pending:
        kind = pending.pop(0)
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


def refusal_codes() -> list[str]:
    return sorted({kind.code for kind in refusal_kinds()})


def document(app: web.Application) -> dict[str, Any]:
    settings = app[SETTINGS]
    tools = list(app[TOOLS].values())
    paths: dict[str, Any] = {}
    for route in app.router.routes():
        if route.name is None or route.method == hdrs.METH_HEAD:
            continue
        for path, operation in _OPERATIONS[route.name](tools, settings):
            paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": settings.title,
            "version": VERSION,
            "description": (
                "A looking glass: ping, traceroute and mtr from this server, streamed live. "
                "Runs are limited per client (one budget across all tools); refusals come before "
                "anything runs, as JSON on the API and as an ERROR line on the text routes."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": _schemas(), "headers": dict(_HEADERS)},
    }


def _schemas() -> dict[str, Schema]:
    schemas: dict[str, Schema] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": refusal_codes()},
                        "message": {"type": "string", "description": "a sentence a visitor can read"},
                    },
                }
            },
        },
    }
    for kind in get_args(Kind):
        # One event as it arrives: its fields are text, and data holds JSON (OpenAPI 3.1
        # describes each event of a text/event-stream; contentSchema says what data holds).
        schemas[f"{kind.capitalize()}Event"] = {
            "type": "object",
            "description": f"event: {kind}",
            "required": ["event", "id", "data"],
            "properties": {
                "event": {"const": kind},
                "id": {"type": "string", "pattern": "^[1-9][0-9]*$", "description": "increasing within a stream"},
                "data": {"type": "string", "contentMediaType": JSON, "contentSchema": EVENT_DATA[kind]},
            },
        }
    return schemas


def _query(params: tuple[Param, ...]) -> list[dict[str, Any]]:
    return [
        {"name": p.name, "in": "query", "required": p.required, "description": p.description, "schema": p.schema}
        for p in params
    ]


def _error_responses(media: str) -> dict[str, Any]:
    body = {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}} if media == JSON else {
        TEXT: {"schema": {"type": "string", "pattern": "^ERROR: "}}
    }
    responses: dict[str, Any] = {}
    for status, why in _REFUSAL_STATUSES.items():
        response: dict[str, Any] = {"description": why, "content": body}
        if status in (429, 503):
            response["headers"] = {RETRY_AFTER: {"$ref": f"#/components/headers/{RETRY_AFTER}"}}
            if status == 429:
                response["headers"].update({h: {"$ref": f"#/components/headers/{h}"} for h in _RATE_HEADERS})
        responses[str(status)] = response
    return responses


def _rate_headers() -> dict[str, Any]:
    return {h: {"$ref": f"#/components/headers/{h}"} for h in _RATE_HEADERS}


def _tool_param(tools: list[ToolSpec]) -> dict[str, Any]:
    return {"name": "tool", "in": "path", "required": True, "description": "The tool to run.",
            "schema": {"type": "string", "enum": [t.name for t in tools]}}


Operations = Iterator[tuple[str, dict[str, Any]]]


def _index(tools: list[ToolSpec], settings: Settings) -> Operations:
    yield "/", {
        "summary": "The page",
        "description": "Fills the form from the query and, given a target, runs at once (a permalink).",
        "parameters": _query(ROUTE_PARAMS["index"]),
        "responses": {"200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}}},
    }


def _api_run(tools: list[ToolSpec], settings: Settings) -> Operations:
    events = [{"$ref": f"#/components/schemas/{kind.capitalize()}Event"} for kind in get_args(Kind)]
    yield "/api/v1/{tool}", {
        "summary": "Run a tool, as Server-Sent Events",
        "description": (
            "A stream of events, each with `event:`, an increasing `id:` and JSON `data:`: first `start`, "
            "then the tool's `line`s with what they mean (`reply`, `summary`, `hop`, `trim`, `progress`), "
            "last `end`. The server sends a comment every few seconds while the tool is quiet. A request "
            "carrying Last-Event-ID (an EventSource reconnecting after the end) is answered 204 and runs "
            f"nothing. Each run spends one from the client's budget ({settings.ratelimit})."
        ),
        "parameters": [
            _tool_param(tools),
            *_query(ROUTE_PARAMS["api_run"]),
            {"name": LAST_EVENT_ID, "in": "header", "required": False, "schema": {"type": "string"},
             "description": "Given: 204, nothing runs."},
        ],
        "responses": {
            "200": {
                "description": "The run, event by event.",
                "headers": _rate_headers(),
                "content": {SSE: {"schema": {"oneOf": events}}},
            },
            "204": {"description": "A reconnect (Last-Event-ID): nothing runs."},
            **_error_responses(JSON),
        },
    }


def _api_check(tools: list[ToolSpec], settings: Settings) -> Operations:
    yield "/api/v1/{tool}/check", {
        "summary": "What a run would answer, without running",
        "description": "204 where the run would start, else its refusal; spends nothing of the run budget.",
        "parameters": [_tool_param(tools), *_query(ROUTE_PARAMS["api_check"])],
        "responses": {"204": {"description": "The run would start."}, **_error_responses(JSON)},
    }


def _text_run(tools: list[ToolSpec], settings: Settings) -> Operations:
    for tool in tools:
        yield f"/{tool.text_route}", {
            "summary": f"Run {tool.name}, as plain text",
            "description": (
                "The original webtrace's stream: the tool's lines (control characters shown as \\xNN), and "
                "an `ERROR: ...` or `TIMEOUT: ...` line when the run did not end well."
            ),
            "parameters": [
                *_query(ROUTE_PARAMS["text_run"]),
                {"name": LAST_EVENT_ID, "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "Given: 204, nothing runs."},
            ],
            "responses": {
                "200": {"description": "The tool's lines.", "headers": _rate_headers(),
                        "content": {TEXT: {"schema": {"type": "string"}}}},
                "204": {"description": "Last-Event-ID was given: nothing runs."},
                **_error_responses(TEXT),
            },
        }


_RESULT_ID: dict[str, Any] = {
    "name": "result_id", "in": "path", "required": True, "description": "A result's id, from `start`.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{22}$"},
}


def _result_page(tools: list[ToolSpec], settings: Settings) -> Operations:
    yield "/r/{result_id}", {
        "summary": "A result, as the page shows a live run",
        "description": "Live while the run goes on. Reading spends no run; it has a budget of its own "
                       f"({settings.results_ratelimit}).",
        "parameters": [_RESULT_ID],
        "responses": {
            "200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}},
            "404": {"description": "No such result (or it expired): a page that says so.",
                    "content": {"text/html": {"schema": {"type": "string"}}}},
            **{k: v for k, v in _error_responses(JSON).items() if k in ("429", "503")},
        },
    }


def _result_json(tools: list[ToolSpec], settings: Settings) -> Operations:
    event = {"type": "object", "required": ["id", "event", "data"],
             "properties": {"id": {"type": "integer", "minimum": 1}, "event": {"enum": list(get_args(Kind))},
                            "data": {"type": "object"}}}
    when = {"type": ["string", "null"], "format": "date-time"}
    yield "/api/v1/results/{result_id}", {
        "summary": "A result, as JSON (or as its text route printed it)",
        "parameters": [_RESULT_ID, {"name": "format", "in": "query", "required": False,
                                    "schema": {"type": "string", "enum": ["json", "text"]}}],
        "responses": {
            "200": {"description": "The result.", "content": {
                JSON: {"schema": {"type": "object", "required": ["id", "tool", "events"], "properties": {
                    "id": {"type": "string"}, "node": {"type": "string"}, "started_at": when,
                    "ended_at": when, "status": {"type": ["string", "null"]}, "cut": {"type": "boolean"},
                    "incomplete": {"type": "boolean"}, "events": {"type": "array", "items": event},
                    "nodes": {"type": "array", "items": {"type": "string"},
                              "description": "a run from several places (nodes=): which"},
                    **{k: v for k, v in EVENT_DATA["start"]["properties"].items() if k != "result"},
                }}},
                TEXT: {"schema": {"type": "string"}},
            }},
            **_error_responses(JSON),
        },
    }


def _result_events(tools: list[ToolSpec], settings: Settings) -> Operations:
    events = [{"$ref": f"#/components/schemas/{kind.capitalize()}Event"} for kind in get_args(Kind)]
    yield "/api/v1/results/{result_id}/events", {
        "summary": "A result, as Server-Sent Events: replayed, then live until its end",
        "description": "Every event with its original id; Last-Event-ID (or ?last_event_id=) resumes after it. "
                       "A result that ended with nothing after it: 204.",
        "parameters": [
            _RESULT_ID,
            {"name": LAST_EVENT_ID, "in": "header", "required": False, "schema": {"type": "string"}},
            {"name": "last_event_id", "in": "query", "required": False,
             "schema": {"type": "string", "pattern": "^[0-9]{1,9}$"}},
        ],
        "responses": {
            "200": {"description": "The events.", "content": {SSE: {"schema": {"oneOf": events}}}},
            "204": {"description": "Nothing after Last-Event-ID, and the result has ended."},
            **_error_responses(JSON),
        },
    }


def _nodes(tools: list[ToolSpec], settings: Settings) -> Operations:
    node = {"type": "object", "required": ["name", "info", "local", "up", "tools"], "properties": {
        "name": {"type": "string"}, "info": {"type": ["string", "null"]},
        "local": {"type": "boolean", "description": "true: this server"},
        "up": {"type": "boolean", "description": "as the last periodic check found it"},
        "tools": {"type": "array", "items": {"type": "string"}, "description": "as the node itself says"}}}
    yield "/api/v1/nodes", {
        "summary": "The vantage points: this server and the other webtraces it lists",
        "responses": {"200": {"description": "This server first.", "content": {JSON: {"schema": {
            "type": "object", "required": ["nodes"], "properties": {"nodes": {"type": "array", "items": node}}}}}}},
    }


def _healthz(tools: list[ToolSpec], settings: Settings) -> Operations:
    yield "/healthz", {
        "summary": "Liveness",
        "responses": {"200": {"description": "ok", "content": {TEXT: {"schema": {"const": "ok"}}}}},
    }


def _metrics(tools: list[ToolSpec], settings: Settings) -> Operations:
    yield "/metrics", {
        "summary": "Prometheus metrics",
        "description": "Runs by tool and status, refusals by reason, durations, runs in progress.",
        "responses": {"200": {"description": "The Prometheus text format.",
                              "content": {TEXT: {"schema": {"type": "string"}}}}},
    }


def _openapi(tools: list[ToolSpec], settings: Settings) -> Operations:
    yield "/api/v1/openapi.json", {
        "summary": "This document",
        "responses": {"200": {"description": "OpenAPI 3.1.", "content": {JSON: {"schema": {"type": "object"}}}}},
    }


def _static(tools: list[ToolSpec], settings: Settings) -> Operations:
    yield "/static/{filename}", {
        "summary": "The page's script, style sheet and icon",
        "parameters": [{"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "The file.", "content": {"*/*": {"schema": {}}}},
            "403": {"description": "Not a file that is served."},
            "404": {"description": "No such file."},
        },
    }


# Each named route of the application, and how it is described.
_OPERATIONS: Mapping[str, Callable[[list[ToolSpec], Settings], Operations]] = {
    "index": _index,
    "api_run": _api_run,
    "api_check": _api_check,
    "text_run": _text_run,
    "healthz": _healthz,
    "nodes": _nodes,
    "result_page": _result_page,
    "result_json": _result_json,
    "result_events": _result_events,
    "metrics": _metrics,
    "openapi": _openapi,
    "static": _static,
}


_DOCUMENT: web.AppKey[bytes] = web.AppKey("openapi_document")


def setup_openapi(app: web.Application) -> None:
    """Serve the document; built here, once every other route exists."""

    async def openapi_view(request: web.Request) -> web.Response:
        return web.Response(body=request.app[_DOCUMENT], content_type=JSON)

    app.router.add_get("/api/v1/openapi.json", openapi_view, name="openapi")
    app[_DOCUMENT] = orjson.dumps(document(app))
