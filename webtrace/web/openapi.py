"""The API as an OpenAPI 3.1 document, built from the definitions the server uses.

Routes come from the table of routes (``routes``): each record's summary,
description, parameters, budget and refusal format, and where a route needs
more, its own ``describe``. A route in the router but not in the table stops
the document from being built, so no route goes undescribed. Tools and text
routes come from the tool records, refusal codes from the Refusal family,
events from ``webtrace.events``. Served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

import orjson
from aiohttp import hdrs, web

from ..events import EVENT_DATA, Kind
from ..refusals import Refusal
from ..settings import Settings
from ..tools import ToolSpec
from .keys import SETTINGS, TOOLS
from .params import Param
from .route import ROUTE, Operations, Route

VERSION = "1.0.0"
JSON = "application/json"
SSE = "text/event-stream"
TEXT = "text/plain"
HTML = "text/html"

# Header names as plain strings (aiohttp's are case-insensitive strings JSON encoders refuse).
RETRY_AFTER = str(hdrs.RETRY_AFTER)
LAST_EVENT_ID = str(hdrs.LAST_EVENT_ID)

Schema = dict[str, Any]
_NUMBER_OR_NULL: Schema = {"type": ["number", "null"]}
_INT_OR_NULL: Schema = {"type": ["integer", "null"]}

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
    table = app[ROUTE]
    for served in app.router.routes():
        if served.name is not None and served.name not in table:
            raise KeyError(f"the route {served.name!r} is not in the table of routes, so it cannot be described")
    paths: dict[str, Any] = {}
    for route in table.values():
        for path, operation in (route.describe or described)(route, tools, settings):
            head = {"summary": route.summary, **({"description": route.description} if route.description else {})}
            paths.setdefault(path, {})[route.method.lower()] = {**head, **operation}
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
    body = {
        JSON: {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
        TEXT: {TEXT: {"schema": {"type": "string", "pattern": "^ERROR: "}}},
        HTML: {HTML: {"schema": {"type": "string"}}},
    }[media]
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


_FORMATS = {"json": JSON, "text": TEXT, "page": HTML}


def described(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    """A route's entry made from its record alone: its parameters, its answer, and its
    refusals in its format (the budget it spends says which it can have)."""
    media = _FORMATS[route.refuses]
    responses: dict[str, Any] = {"200": {"description": route.summary, "content": {media: {"schema": {}}}}}
    if route.budget != "none":
        responses.update(_error_responses(media))
    yield route.path, {"parameters": _query(route.params), "responses": responses}


def api_run(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    events = [{"$ref": f"#/components/schemas/{kind.capitalize()}Event"} for kind in get_args(Kind)]
    yield route.path, {
        "description": f"{route.description} Each run spends one from the client's budget ({settings.ratelimit}).",
        "parameters": [
            _tool_param(tools),
            *_query(route.params),
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


def api_check(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    yield route.path, {
        "parameters": [_tool_param(tools), *_query(route.params)],
        "responses": {
            "204": {"description": "The run would start."},
            "200": {"description": "With nodes=: the run would start, but these nodes were found down by the last "
                                   "check (their parts would end unavailable).",
                    "content": {JSON: {"schema": {
                        "type": "object", "required": ["down", "message"], "additionalProperties": False,
                        "properties": {
                            "down": {"type": "array", "items": {
                                "type": "object", "required": ["name", "since", "why"], "additionalProperties": False,
                                "properties": {"name": {"type": "string"},
                                               "since": {"type": "string", "format": "date-time"},
                                               "why": {"type": ["string", "null"]}}}},
                            "message": {"type": "string"}}}}}},
            **_error_responses(JSON),
        },
    }


def text_run(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    for tool in tools:
        yield f"/{tool.text_route}", {
            "summary": f"Run {tool.name}, as plain text",
            "parameters": [
                *_query(route.params),
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


def result_page(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    yield route.path, {
        "description": f"{route.description} It has a budget of its own ({settings.results_ratelimit}).",
        "parameters": [_RESULT_ID],
        "responses": {
            "200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}},
            **{k: v for k, v in _error_responses(HTML).items() if k in ("404", "429", "503")},
        },
    }


def result_json(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    event = {"type": "object", "required": ["id", "event", "data"],
             "properties": {"id": {"type": "integer", "minimum": 1}, "event": {"enum": list(get_args(Kind))},
                            "data": {"type": "object"}}}
    when = {"type": ["string", "null"], "format": "date-time"}
    own = {"type": "object", "required": ["id", "tool", "events"], "properties": {
        "id": {"type": "string"}, "node": {"type": "string"}, "started_at": when,
        "ended_at": when, "status": {"type": ["string", "null"]}, "cut": {"type": "boolean"},
        "incomplete": {"type": "boolean"}, "events": {"type": "array", "items": event},
        "nodes": {"type": "array", "items": {"type": "string"},
                  "description": "a run from several places (nodes=): which"},
        **{k: v for k, v in EVENT_DATA["start"]["properties"].items() if k != "result"},
    }}
    exports = {export.name: export for spec in tools for export in spec.exports}
    others = "; ".join(f"{name} ({export.media_type}): {export.description}, for "
                       f"{', '.join(spec.name for spec in tools if spec.export(name))}"
                       for name, export in exports.items())
    atlas = {"type": "array", "description": "format=atlas: RIPE Atlas result objects, one per place",
             "items": {"type": "object", "required": ["fw", "msm_id", "prb_id", "timestamp", "type", "result"]}}
    mtr_report = {"type": "object", "required": ["report"], "properties": {"report": {
        "type": "object", "required": ["mtr", "hubs"],
        "properties": {"mtr": {"type": "object"}, "hubs": {"type": "array", "items": {"type": "object"}}}}}}
    disposition = {"Content-Disposition": {
        "description": "the file name, naming the tool, the target and when: inline for json and text, "
                       "attachment for the others",
        "schema": {"type": "string"}}}
    yield route.path, {
        "description": f"Besides webtrace's own JSON and text: {others}.",
        "parameters": [_RESULT_ID, *_query(route.params)],
        "responses": {
            "200": {"description": "The result, in the format asked for.", "headers": disposition, "content": {
                JSON: {"schema": {"anyOf": [
                    own, atlas, {**mtr_report, "description": "format=mtr-json, from one place"},
                    {"type": "array", "items": mtr_report, "description": "format=mtr-json, from several"}]}},
                TEXT: {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            }},
            **_error_responses(JSON),
        },
    }


_PAIR = [{"name": name, "in": "path", "required": True, "description": f"A result's id ({name}: {words}).",
          "schema": {"type": "string"}} for name, words in (("a", "then"), ("b", "now"))]


def comparison_page(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    yield route.path, {
        "description": f"{route.description} It has the results budget ({settings.results_ratelimit}).",
        "parameters": _PAIR,
        "responses": {
            "200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}},
            **{k: v for k, v in _error_responses(HTML).items() if k in ("400", "404", "429", "503")},
        },
    }


def comparison_json(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    moved = {"type": "object", "required": ["a", "b", "change"], "properties": {
        "a": _NUMBER_OR_NULL, "b": _NUMBER_OR_NULL, "change": {**_NUMBER_OR_NULL, "description": "b - a"}}}
    run = {"type": "object", "required": ["id", "target", "node", "started_at", "ended_at"], "properties": {
        "id": {"type": "string"}, "target": {"type": ["string", "null"]}, "node": {"type": ["string", "null"]},
        "started_at": {"type": "number"}, "ended_at": _NUMBER_OR_NULL}}
    hop = {"type": "object", "required": ["hop", "state", "a", "b", "loss_pct", "avg_ms"], "properties": {
        "hop": {"type": "integer"},
        "state": {"enum": ["same", "varies", "changed", "unknown", "only_a", "only_b"],
                  "description": "changed: no address in both; varies: some (ECMP); unknown: one heard nothing"},
        "a": {"type": "array", "items": {"type": "object"}}, "b": {"type": "array", "items": {"type": "object"}},
        "loss_pct": moved, "avg_ms": moved}}
    place = {"type": "object", "required": ["node", "verdict"], "properties": {
        "node": {"type": "string"}, "verdict": {"type": "string"},
        "same_path": {"type": ["boolean", "null"]}, "changed_at": _INT_OR_NULL,
        "target_hop": {"type": "object"}, "at_target": {"type": ["object", "null"]},
        "hops": {"type": "array", "items": hop},
        "statistics": {"type": "object", "additionalProperties": moved, "description": "ping"},
        "series": {"type": "object", "description": "ping: each run's replies (seq, rtt_ms)"}}}
    yield route.path, {
        "description": f"{route.description} It has the results budget ({settings.results_ratelimit}).",
        "parameters": _PAIR,
        "responses": {
            "200": {"description": "The comparison.", "content": {JSON: {"schema": {
                "type": "object", "required": ["tool", "a", "b", "verdict", "places", "running"], "properties": {
                    "tool": {"type": "string"}, "a": run, "b": run,
                    "verdict": {"type": "string", "description": "one sentence, first"},
                    "places": {"type": "array", "items": place},
                    "running": {"type": "boolean", "description": "either run still goes on: ask again"}}}}}},
            **_error_responses(JSON),
        },
    }


def result_events(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    events = [{"$ref": f"#/components/schemas/{kind.capitalize()}Event"} for kind in get_args(Kind)]
    yield route.path, {
        "parameters": [
            _RESULT_ID,
            {"name": LAST_EVENT_ID, "in": "header", "required": False, "schema": {"type": "string"}},
            *_query(route.params),
        ],
        "responses": {
            "200": {"description": "The events.", "content": {SSE: {"schema": {"oneOf": events}}}},
            "204": {"description": "Nothing after Last-Event-ID, and the result has ended."},
            **_error_responses(JSON),
        },
    }


def nodes(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    node = {"type": "object", "required": ["name", "info", "local", "up", "down_since", "tools"], "properties": {
        "name": {"type": "string"}, "info": {"type": ["string", "null"]},
        "local": {"type": "boolean", "description": "true: this server"},
        "up": {"type": "boolean", "description": "as the last periodic check found it"},
        "down_since": {"type": ["string", "null"], "format": "date-time",
                       "description": "when a check first found it down; null: up, or not checked yet"},
        "tools": {"type": "array", "items": {"type": "string"}, "description": "as the node itself says"}}}
    yield route.path, {
        "responses": {"200": {"description": "This server first.", "content": {JSON: {"schema": {
            "type": "object", "required": ["nodes"], "properties": {"nodes": {"type": "array", "items": node}}}}}}},
    }


def healthz(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    yield route.path, {
        "responses": {"200": {"description": "ok", "content": {TEXT: {"schema": {"const": "ok"}}}}},
    }


def metrics(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    yield route.path, {
        "responses": {"200": {"description": "The Prometheus text format.",
                              "content": {TEXT: {"schema": {"type": "string"}}}}},
    }


def openapi(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    yield route.path, {
        "responses": {"200": {"description": "OpenAPI 3.1.", "content": {JSON: {"schema": {"type": "object"}}}}},
    }


def static(route: Route, tools: list[ToolSpec], settings: Settings) -> Operations:
    yield route.path, {
        "parameters": [{"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "The file.", "content": {"*/*": {"schema": {}}}},
            "403": {"description": "Not a file that is served."},
            "404": {"description": "No such file."},
        },
    }


_DOCUMENT: web.AppKey[bytes] = web.AppKey("openapi_document")


def setup_openapi(app: web.Application) -> None:
    """Build the document, once every route exists (its route is in the table)."""
    app[_DOCUMENT] = orjson.dumps(document(app))


async def openapi_view(request: web.Request) -> web.Response:
    """``GET /api/v1/openapi.json``: this document."""
    return web.Response(body=request.app[_DOCUMENT], content_type=JSON)
