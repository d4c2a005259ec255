"""The result routes: a stored run as a page (``/r/{id}``), as JSON or text, and as
SSE that replays it and then follows it live (design §8).

Reading spends no run: these routes draw on a reading budget of their own
(their records in ``routes`` say so). A follower never touches the run it follows.
"""

from __future__ import annotations

import aiohttp_jinja2
import orjson
from aiohttp import hdrs, web

from ..events import Event
from ..refusals import BadRequest
from ..results.records import Result, StoredEvent, is_result_id
from ..results.recorder import ResultNotFound
from .keys import RESULTS, TOOLS
from .page import page_context
from .params import FORMAT, LAST_EVENT_ID
from .sinks import event_stream, sse_frame


def _result_id(request: web.Request) -> str:
    result_id = request.match_info["result_id"]
    if not is_result_id(result_id):
        raise ResultNotFound("there is no such result here: the link is not a result's")
    return result_id


async def result_page(request: web.Request) -> web.StreamResponse:
    """``GET /r/{id}``: the result as the page shows a live run, and live while it runs.
    No such result: the page says so (a refusal, as a page)."""
    result = await request.app[RESULTS].read(_result_id(request))
    about = {key: value for key, value in result.as_json().items() if key != "events"}
    meta = result.meta
    return aiohttp_jinja2.render_template("index.html", request, page_context(
        request, tool=str(meta.get("tool", "")), target=str(meta.get("target", "")),
        family=str(meta.get("family") or "auto"), root="../", result=about))


async def result_json(request: web.Request) -> web.Response:
    """``GET /api/v1/results/{id}``: the result as JSON; ``?format=text``: what its text route printed."""
    result = await request.app[RESULTS].read(_result_id(request))
    if FORMAT.read(request) == "text":
        return web.Response(text=as_text(request, result), content_type="text/plain", charset="utf-8")
    return web.Response(body=orjson.dumps(result.as_json()), content_type="application/json")


def as_text(request: web.Request, result: Result) -> str:
    spec = request.app[TOOLS].get(str(result.meta.get("tool")))
    if spec is None:  # a tool no longer offered here: its lines as they were
        return "".join(f"{data['text']}\n" for _, kind, data in result.events if kind == "line")
    text = spec.text(str(result.meta.get("node", "")), result.started_at, several=bool(result.meta.get("nodes")))
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
        async with event_stream(request) as resp:
            while batch is not None:
                # A running result's events are encoded once for all its followers.
                await resp.write(b"".join(results.frame(result_id, number, lambda: _frame(number, kind, data))
                                          for number, kind, data in batch))
                batch = await anext(events, None)
        return resp
    finally:
        await events.aclose()  # a follower who left is no longer counted, now


def _frame(number: int, kind: str, data: dict[str, object]) -> bytes:
    return sse_frame(number, Event(kind, data))  # type: ignore[arg-type]  # kinds were events' own


def _events(stored: list[StoredEvent]) -> list[Event]:
    return [Event(kind, data) for _, kind, data in stored]  # type: ignore[arg-type]  # kinds were events' own


def _after(request: web.Request) -> int:
    text = request.headers.get(hdrs.LAST_EVENT_ID) or LAST_EVENT_ID.read(request) or "0"
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise BadRequest(f"Last-Event-ID must be an event's id, not {text[:20]!r}")
    return int(text)
