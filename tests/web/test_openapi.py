"""The API's description: served, valid OpenAPI 3.1, and complete: every route,
parameter, refusal code and event the server has is in it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, get_args

from openapi_spec_validator import validate

from webtrace import create_app
from webtrace.events import Kind
from webtrace.tools import TOOLS
from webtrace.web.openapi import EVENT_DATA, document, refusal_codes
from webtrace.web.routes import ROUTES
from webtrace.web.views import api_run


async def test_the_document_is_served_and_valid(client: Any) -> None:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    doc = await resp.json()
    validate(doc)
    assert doc["openapi"] == "3.1.0"


def test_every_route_is_described() -> None:
    app = create_app()
    doc = document(app)
    described = {(path, method) for path, item in doc["paths"].items() for method in item}
    for route in app.router.routes():
        if route.resource is None or route.method == "HEAD":
            continue
        paths = {"text_run": [f"/{t.text_route}" for t in TOOLS], "static": ["/static/{filename}"]}.get(
            route.name or "", [route.resource.canonical])
        for path in paths:
            assert (path, route.method.lower()) in described, (path, route.method)


def test_every_parameter_refusal_code_and_event_is_described() -> None:
    doc = document(create_app())
    paths = doc["paths"]
    for route, path in (("api_run", "/api/v1/{tool}"), ("api_check", "/api/v1/{tool}/check"), ("text_run", "/ping"),
                        ("index", "/")):
        names = {p["name"] for p in paths[path]["get"]["parameters"]}
        assert {p.name for p in next(r for r in ROUTES if r.name == route).params} <= names, route
    tools = paths["/api/v1/{tool}"]["get"]["parameters"][0]["schema"]["enum"]
    assert tools == ["mtr", "traceroute", "ping", "tracepath"]
    codes = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    assert set(codes) == set(refusal_codes())
    assert {"bad_request", "target_denied", "unknown_tool", "unresolvable", "rate_limited", "client_busy", "busy",
            "shutting_down", "tool_unavailable"} <= set(codes)
    assert set(EVENT_DATA) == set(get_args(Kind))
    stream = paths["/api/v1/{tool}"]["get"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in stream["oneOf"]} == {
        f"{kind.capitalize()}Event" for kind in get_args(Kind)}
    assert paths["/api/v1/{tool}"]["get"]["responses"]["429"]["headers"].keys() >= {
        "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
    assert "RateLimit-Remaining" in paths["/ping"]["get"]["responses"]["200"]["headers"]


async def test_events_a_real_run_sends_match_their_schemas(client: Any) -> None:
    from jsonschema import Draft202012Validator

    from tests.helpers import collect
    doc = document(client.server.app)
    for tool in ("ping", "mtr", "traceroute"):
        events = await collect(await client.get(f"/api/v1/{tool}", params={"target": "127.0.0.1"}))
        for event in events:
            schema = doc["components"]["schemas"][f"{event.event.capitalize()}Event"]
            arrived = {"event": event.event, "id": event.id, "data": json.dumps(event.data)}
            Draft202012Validator(schema).validate(arrived)
            Draft202012Validator(schema["properties"]["data"]["contentSchema"]).validate(event.data)
    assert api_run.__doc__


async def test_the_schemas_are_closed_and_a_text_routes_events_match_them(make_client: Any) -> None:
    from jsonschema import Draft202012Validator

    from tests.conftest import LOOPBACK_SETTINGS
    assert all(schema["additionalProperties"] is False for schema in EVENT_DATA.values())
    client = await make_client(dataclasses.replace(LOOPBACK_SETTINGS, results="memory://"))
    for route in ("/ping", "/mtr", "/trace"):
        resp = await client.get(route, params={"target": "127.0.0.1"})
        await resp.text()
        result_id = resp.headers["Link"].split("/")[1].split(">")[0]
        stored = await (await client.get(f"/api/v1/results/{result_id}")).json()
        assert stored["events"][0]["event"] == "start" and stored["events"][-1]["event"] == "end"
        for event in stored["events"]:
            Draft202012Validator(EVENT_DATA[event["event"]]).validate(event["data"])


def test_a_route_without_a_description_stops_the_document(make_settings: Callable[..., Any]) -> None:
    app = create_app()

    async def undocumented(request: Any) -> Any:
        raise NotImplementedError

    app.router.add_get("/api/v1/secret", undocumented, name="secret")
    try:
        document(app)
    except KeyError as exc:
        assert "secret" in str(exc)
    else:
        raise AssertionError("an undescribed route was left out silently")


def test_every_parameter_the_views_can_read_is_listed_for_a_route() -> None:
    from webtrace.web import params

    defined = {id(value) for value in vars(params).values() if isinstance(value, params.Param)}
    listed = {id(p) for route in ROUTES for p in route.params}
    assert defined == listed
