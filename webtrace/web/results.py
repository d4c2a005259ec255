"""The result routes: a stored run as a page (``/r/{id}``), as JSON or text, and as
SSE that replays it and then follows it live (design §8).

Reading spends no run: these routes draw on a reading budget of their own
(their records in ``routes`` say so). A follower never touches the run it follows.
"""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp_jinja2
import orjson
from aiohttp import hdrs, web

from ..events import Event
from ..formats.exports import JSON_MEDIA, OWN_FORMATS
from ..formats.folded import file_name
from ..refusals import BadRequest
from ..results.records import Result, StoredEvent, is_result_id
from ..results.recorder import ResultNotFound
from ..tools import ToolSpec, either
from .keys import RESULTS, TOOLS
from .page import page_context
from .params import FORMAT, LAST_EVENT_ID
from .sinks import event_stream, send, sse_frame

_WRITE_BYTES = 65536


def _result_id(request: web.Request) -> str:
    result_id = request.match_info["result_id"]
    if not is_result_id(result_id):
        raise ResultNotFound("there is no such result here: the link is not a result's")
    return result_id


async def result_page(request: web.Request) -> web.StreamResponse:
    """``GET /r/{id}``: the result as the page shows a live run, and live while it runs.
    No such result: the page says so (a refusal, as a page)."""
    result = await request.app[RESULTS].read(_result_id(request))
    about = result.about()
    meta = result.meta
    return aiohttp_jinja2.render_template("index.html", request, page_context(
        request, tool=str(meta.get("tool", "")), target=str(meta.get("target", "")),
        family=str(meta.get("family") or "auto"), root="../", result=about))


async def result_json(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/results/{id}``: the result as JSON; ``?format=``: as its text route
    printed it, or in a format another program reads (those its tool's record lists).
    Written as it is rendered, a piece at a time: no second copy of the result."""
    result = await request.app[RESULTS].read(_result_id(request))
    name = FORMAT.read(request) or "json"
    spec = request.app[TOOLS].get(str(result.meta.get("tool")))
    if name == "json":
        return await _send(request, json_chunks(result), JSON_MEDIA, file_name(result, "json"))
    if name == "text":
        return await _send(request, text_chunks(spec, result), "text/plain", file_name(result, "txt"))
    export = spec.export(name) if spec is not None else None
    if export is None:
        fits = [*OWN_FORMATS, *(e.name for e in spec.exports)] if spec is not None else list(OWN_FORMATS)
        raise BadRequest(f"a {result.meta.get('tool')} result cannot be read as {name[:20]!r}: "
                         f"format must be {either(fits)}")
    return await _send(request, export.render(result), export.media_type, file_name(result, export.extension),
                       download=True)


async def _send(request: web.Request, chunks: Iterator[bytes], media_type: str, name: str, *,
                download: bool = False) -> web.StreamResponse:
    """Writes ``chunks`` gathered into writes of about ``_WRITE_BYTES``. json and text
    show in a browser (inline); the other formats are files (attachment)."""
    resp = web.StreamResponse()
    resp.content_type = media_type
    if media_type.startswith("text/"):
        resp.charset = "utf-8"
    resp.headers[hdrs.CONTENT_DISPOSITION] = f'{"attachment" if download else "inline"}; filename="{name}"'
    await resp.prepare(request)
    if request.method == "HEAD":
        return resp
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= _WRITE_BYTES:
            await resp.write(b"".join(pending))
            pending.clear()
            size = 0
    if pending:
        await resp.write(b"".join(pending))
    await resp.write_eof()
    return resp


def json_chunks(result: Result) -> Iterator[bytes]:
    """``Result.as_json()``, encoded an event at a time."""
    yield orjson.dumps(result.about())[:-1] + b',"events":['
    for index, (number, kind, data) in enumerate(result.events):
        yield (b"," if index else b"") + orjson.dumps({"id": number, "event": kind, "data": data})
    yield b"]}"


def text_chunks(spec: ToolSpec | None, result: Result) -> Iterator[bytes]:
    if spec is None:  # a tool no longer offered here: its lines as they were
        yield from (f"{data['text']}\n".encode() for _, kind, data in result.events if kind == "line")
        return
    text = spec.text(str(result.meta.get("node", "")), result.started_at, several=bool(result.meta.get("nodes")))
    for event in _events(result.events):
        yield "".join(f"{line}\n" for line in text.lines(event)).encode()


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
                frames = b"".join(results.frame(result_id, number, lambda: _frame(number, kind, data))
                                  for number, kind, data in batch)
                await send(resp.writes, resp, frames)
                batch = await anext(events, None)
        return resp
    finally:
        await events.aclose()  # a follower who left is no longer counted, now


def _frame(number: int, kind: str, data: dict[str, object]) -> bytes:
    return sse_frame(number, Event(kind, data))  # type: ignore[arg-type]  # kinds were events' own


def _events(stored: list[StoredEvent]) -> Iterator[Event]:
    return (Event(kind, data) for _, kind, data in stored)  # type: ignore[arg-type]  # kinds were events' own


def _after(request: web.Request) -> int:
    text = request.headers.get(hdrs.LAST_EVENT_ID) or LAST_EVENT_ID.read(request) or "0"
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise BadRequest(f"Last-Event-ID must be an event's id, not {text[:20]!r}")
    return int(text)
