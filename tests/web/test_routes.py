"""The table of routes: every route once, each stating its budget; a route added
through the table alone is limited, refused in its format and described."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import LOOPBACK_SETTINGS
from webtrace import create_app
from webtrace.refusals import BadRequest
from webtrace.settings import SettingsError
from webtrace.web.params import Param
from webtrace.web.route import BUDGETS, Route
from webtrace.web.routes import ROUTES

GREETING = Param("greeting", "What to say back; 'no' is refused.")


async def echo(request: web.Request) -> web.Response:
    said = GREETING.read(request) or "hello"
    if said == "no":
        raise BadRequest("greeting must not be no")
    return web.Response(text=f"{said}\n")


EXTRA = Route("echo", "/api/v1/extra/echo", echo, budget="results", refuses="text", summary="Say it back",
              description="A route added through the table alone.", params=(GREETING,))


def test_every_route_states_its_budget_and_run_routes_spend_runs() -> None:
    assert all(route.budget in BUDGETS for route in ROUTES)
    assert {route.name for route in ROUTES if route.budget == "run"} == {"api_run", "text_run"}
    assert len({route.name for route in ROUTES}) == len(ROUTES)


async def test_a_route_added_through_the_table_is_limited_refused_in_its_format_and_described(
        make_client: Any) -> None:
    client = await make_client(dataclasses.replace(LOOPBACK_SETTINGS, results_ratelimit="3/minute"),
                               routes=(*ROUTES, EXTRA))
    said = await client.get("/api/v1/extra/echo", params={"greeting": "hi"})
    assert said.status == 200 and await said.text() == "hi\n"
    refused = await client.get("/api/v1/extra/echo", params={"greeting": "no"})
    assert refused.status == 400 and await refused.text() == "ERROR: greeting must not be no\n"
    await client.get("/api/v1/extra/echo")
    limited = await client.get("/api/v1/extra/echo")
    assert limited.status == 429 and (await limited.text()).startswith("ERROR: Too many result reads")
    assert limited.headers["Retry-After"]
    doc = await (await client.get("/api/v1/openapi.json")).json()
    operation = doc["paths"]["/api/v1/extra/echo"]["get"]
    assert operation["summary"] == "Say it back" and operation["parameters"][0]["name"] == "greeting"
    assert operation["responses"]["429"]["content"]["text/plain"]["schema"]["pattern"] == "^ERROR: "


def test_a_route_that_states_no_budget_stops_start_up() -> None:
    unstated = dataclasses.replace(EXTRA, budget=None)
    with pytest.raises(SettingsError, match="the route echo .* does not say what budget it spends"):
        create_app(LOOPBACK_SETTINGS, routes=(*ROUTES, unstated))
