"""The result routes: a stored run as a page (``/r/{id}``), as JSON or text, and as
SSE that replays it and then follows it live (design §8).

Reading spends no run: these routes draw on a reading budget of their own
(``ratelimit``). A follower never touches the run it follows.
"""

from __future__ import annotations

import aiohttp_jinja2
import orjson
from aiohttp import hdrs, web

from ..events import Event
from ..refusals import BadRequest
from ..results.records import Result, StoredEvent, is_result_id
from ..results.recorder import ResultNotFound
from .fanout import NodeLines
from .keys import RESULTS, TOOLS
from .sinks import TextLines, event_stream, sse_frame
from .views import page_context

RESULT_ROUTES = frozenset({"result_page", "result_json", "result_events"})
LAST_EVENT_ID_PARAM = "last_event_id"  # for a page that opens a new EventSource where the old one stopped


def _result_id(request: web.Request) -> str:
    result_id = request.match_info["result_id"]
    if not is_result_id(result_id):
        raise ResultNotFound("there is no such result here: the link is not a result's")
    return result_id


async def result_page(request: web.Request) -> web.StreamResponse:
    """``GET /r/{id}``: the result as the page shows a live run, and live while it runs."""
    try:
        result = await request.app[RESULTS].read(_result_id(request))
    except ResultNotFound as missing:
        context = page_context(request, tool="", target="", family="auto", root="../")
        context["missing"] = str(missing)
        return aiohttp_jinja2.render_template("index.html", request, context, status=404)
    about = {key: value for key, value in result.as_json().items() if key != "events"}
    meta = result.meta
    return aiohttp_jinja2.render_template("index.html", request, page_context(
        request, tool=str(meta.get("tool", "")), target=str(meta.get("target", "")),
        family=str(meta.get("family") or "auto"), root="../", result=about))


async def result_json(request: web.Request) -> web.Response:
    """``GET /api/v1/results/{id}``: the result as JSON; ``?format=text``: what its text route printed."""
    result = await request.app[RESULTS].read(_result_id(request))
    if request.query.get("format") == "text":
        return web.Response(text=as_text(request, result), content_type="text/plain", charset="utf-8")
    return web.Response(body=orjson.dumps(result.as_json()), content_type="application/json")


def as_text(request: web.Request, result: Result) -> str:
    spec = request.app[TOOLS].get(str(result.meta.get("tool")))
    if spec is None:  # a tool no longer offered here: its lines as they were
        return "".join(f"{data['text']}\n" for _, kind, data in result.events if kind == "line")
    text: TextLines | NodeLines = (
        NodeLines(spec, result.started_at) if result.meta.get("nodes")  # a run from several places
        else TextLines(spec, str(result.meta.get("node", "")), result.started_at))
    return "".join(f"{line}\n" for event in _events(result.events) for line in text.lines(event))


async def result_events(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/results/{id}/events``: every event so far with its original id,
    then live until the end; ``Last-Event-ID: N`` resumes after N. A result that
    has ended with nothing after N is ``204``: an EventSource stops reconnecting."""
    result_id = _result_id(request)
    after = _after(request)
    results = request.app[RESULTS]
    events = results.follow(result_id, after)
    try:
        batch = await anext(events, None)  # an unknown id is refused here, before the stream starts
        if batch is None:
            return web.Response(status=204)
        recorder = results.live.get(result_id)
        # A running result's events are encoded once for all its followers.
        encoded: dict[int, bytes] = recorder.encoded if recorder is not None else {}
        async with event_stream(request) as resp:
            while batch is not None:
                await resp.write(b"".join(_frame(encoded, stored) for stored in batch))
                batch = await anext(events, None)
        return resp
    finally:
        await events.aclose()  # a follower who left is no longer counted, now


def _frame(encoded: dict[int, bytes], stored: StoredEvent) -> bytes:
    number, kind, data = stored
    frame = encoded.get(number)
    if frame is None:
        frame = encoded[number] = sse_frame(number, Event(kind, data))  # type: ignore[arg-type]
    return frame


def _events(stored: list[StoredEvent]) -> list[Event]:
    return [Event(kind, data) for _, kind, data in stored]  # type: ignore[arg-type]  # kinds were events' own


def _after(request: web.Request) -> int:
    text = request.headers.get(hdrs.LAST_EVENT_ID) or request.query.get(LAST_EVENT_ID_PARAM) or "0"
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise BadRequest(f"Last-Event-ID must be an event's id, not {text[:20]!r}")
    return int(text)


def setup_result_routes(app: web.Application) -> None:
    app.router.add_get("/r/{result_id}", result_page, name="result_page")
    app.router.add_get("/api/v1/results/{result_id}", result_json, name="result_json")
    app.router.add_get("/api/v1/results/{result_id}/events", result_events, name="result_events", allow_head=False)
