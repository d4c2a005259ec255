"""Where a run's events go: an SSE stream (the page, the API) or a text stream
(curl, the original webtrace's routes). Each takes a source of events (a run
here, or from several nodes), records it for its result (in one place,
``_record``) and answers the request with it; the source is closed with the
response, whatever happens.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp_sse import EventSourceResponse, sse_response

from ..events import Event
from ..results.recorder import Compaction, Recorder
from ..runs.job import Emit
from ..runs.source import Source
from ..tools import ToolSpec
from .keys import NODE, RESULTS, SOURCE
from .ratelimit import RATE_HEADERS
from .stalls import STALLS, Writes

STREAM_HEADERS = {hdrs.CACHE_CONTROL: "no-cache", "X-Accel-Buffering": "no"}  # nginx: pass each line on
# Seconds between the SSE comments that keep idle proxies from closing a quiet stream.
SSE_PING_INTERVAL: web.AppKey[float] = web.AppKey("sse_ping_interval")


class EventStream(EventSourceResponse):
    """aiohttp-sse's response, with ``Connection`` left to aiohttp, and its headers
    sent with its first event.

    aiohttp-sse says keep-alive on every stream, even to a client that asked to
    close, which aiohttp then does: a client believing the header kept the
    connection for its next request, and that request found it closed.

    The headers wait for the first event of the same turn of the loop (a run's
    ``start``, written as soon as the stream is ready), so both leave in one
    system call and one packet; if none comes by the next turn, they leave alone."""

    _send_headers_immediately = False  # aiohttp's own switch; ``prepare`` below sends them by the next turn

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        del self.headers[hdrs.CONNECTION]

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        writer = await super().prepare(request)
        if writer is not None:
            asyncio.get_running_loop().call_soon(_send_headers, writer)
        return writer


def _send_headers(writer: AbstractStreamWriter) -> None:
    try:
        writer.send_headers()  # nothing, once a write has sent them
    except ConnectionError:
        pass  # the visitor left already; the stream's own write will say so


def event_stream(request: web.Request, headers: Mapping[str, str] | None = None
                 ) -> AbstractAsyncContextManager[EventStream]:
    """An SSE response to ``request``, prepared on entering, with a comment every
    ``SSE_PING_INTERVAL`` seconds (aiohttp-sse sets ``STREAM_HEADERS`` itself)."""
    return sse_response(request, headers=headers, ping_interval=request.app[SSE_PING_INTERVAL],
                        response_cls=EventStream)


async def sse_sink(request: web.Request, source: Source) -> web.StreamResponse:
    """The run as Server-Sent Events: every event with an increasing id; each
    recorded for its result just before it is sent (and encoded once for both)."""
    recorder = _record(request, source)
    ids = itertools.count(1)
    stalls = request.app[STALLS]
    writes = stalls.watch(request)
    try:
        async with event_stream(request, rate_headers(request)) as resp:
            async def write(events: list[Event]) -> None:
                encoded: Iterable[bytes | None] = (recorder.record(events) if recorder is not None
                                                   else itertools.repeat(None))
                await send(writes, resp, b"".join([sse_frame(next(ids), e, raw) for e, raw in zip(events, encoded)]),
                           last=bool(events) and events[-1].kind == source.final)

            await _run(source, write, recorder)
    finally:
        stalls.forget(writes)
        _finish(source, recorder)
    return resp


def sse_frame(event_id: int, event: Event, data: bytes | None = None) -> bytes:
    """One SSE event (``data``: its data as JSON, where it was encoded already). JSON
    escapes CR and LF, so ``data`` is always a single line.

    orjson: encoding is the largest cost of a busy stream after the writes themselves.
    One bytes formatting costs a frame a sixth fewer instructions than a str made and
    encoded, then joined."""
    return b"id: %d\r\nevent: %b\r\ndata: %b\r\n\r\n" % (
        event_id, event.kind.encode(), orjson.dumps(event.data) if data is None else data)


async def text_sink(request: web.Request, source: Source) -> web.StreamResponse:
    """The original webtrace's plain text: the tool's lines (each prefixed ``[node] ``
    for a run from several), and a closing line when a run did not end well."""
    recorder = _record(request, source)
    headers = {**STREAM_HEADERS, **rate_headers(request)}
    if recorder is not None:
        headers[hdrs.LINK] = f'<r/{recorder.id}>; rel="bookmark"'
    resp = web.StreamResponse(headers=headers)
    resp.content_type = "text/plain"
    resp.charset = "utf-8"
    spec = source.query.spec
    text = spec.text(request.app[NODE], recorder.started_at if recorder is not None else time.time(),
                     several=source.final == "done")

    stalls = request.app[STALLS]
    writes = stalls.watch(request)

    async def write(events: list[Event]) -> None:
        if recorder is not None:
            recorder.record(events)
        out = [line for event in events for line in text.lines(event)]
        if out:
            await send(writes, resp, ("\n".join(out) + "\n").encode("utf-8", "replace"))

    try:
        await resp.prepare(request)
        await _run(source, write, recorder)
        await resp.write_eof()
    finally:
        stalls.forget(writes)
        _finish(source, recorder)
    return resp


@dataclass(frozen=True, slots=True)
class Sink:
    """How a run route answers: ``answer`` writes a source's events; ``names``: whether
    the run's hop rows need names, AS and country for it."""

    answer: Callable[[web.Request, Source], Awaitable[web.StreamResponse]]
    names: Callable[[ToolSpec], bool]


SSE = Sink(sse_sink, lambda spec: True)  # the page's table shows them
# The tool's own lines carry none; a text view (mtr's report) shows them.
TEXT = Sink(text_sink, lambda spec: spec.text_view is not None)


def _record(request: web.Request, source: Source) -> Recorder | None:
    """The run's result, begun (None where results are not kept, or cannot be now)."""
    request[SOURCE] = source  # for the access log: how it ended
    query = source.query
    # A tool whose lines are records for a program (mtr's) keeps no lines when continuous: its rows say it all.
    compaction = Compaction(lines=query.spec.text_view is None) if query.continuous else None
    return request.app[RESULTS].start(source.about(), final=source.final, compaction=compaction)


async def _run(source: Source, write: Emit, recorder: Recorder | None) -> None:
    try:
        await source.run(write, recorder.id if recorder is not None else None)
    except ConnectionError:
        pass  # the visitor left; closing the source ends what still runs


def _finish(source: Source, recorder: Recorder | None) -> None:
    source.close()
    if recorder is not None:  # its visitor left before the end was sent: the result still ends
        recorder.finish(source.abandoned().data)


async def send(writes: Writes, resp: web.StreamResponse, data: bytes, *, last: bool = False) -> None:
    """Write ``data`` (the stall watch sees it waiting, if it waits); ``last``: it holds
    the run's final event, so the response's end goes in the same system call (and what
    aiohttp writes after the handler is nothing)."""
    writes.since = time.monotonic()
    try:
        await (resp.write_eof(data) if last else resp.write(data))
    finally:
        writes.since = None


def rate_headers(request: web.Request) -> dict[str, str]:
    """The ``RateLimit-*`` headers of the run this request spent, for its response."""
    return dict(request.get(RATE_HEADERS, {}))
