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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import get_args

import orjson
from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp_sse import EventSourceResponse

from ..events import Event, Kind
from ..results.recorder import Compaction, Recorder
from ..runs.job import Emit
from ..runs.source import Source
from ..tools import ToolSpec
from .keys import NODE, RESULTS, SOURCE
from .ratelimit import RATE_HEADERS
from .stalls import STALLS, Writes

STREAM_HEADERS = {hdrs.CACHE_CONTROL: "no-cache", "X-Accel-Buffering": "no"}  # nginx: pass each line on
# What a quiet event stream is sent (aiohttp-sse's words): a comment, which EventSource ignores.
KEEPALIVE = b": ping\r\n\r\n"


def _head(kind: str) -> bytes:
    """What an SSE frame of ``kind`` holds between its id and its data."""
    return b"\r\nevent: %b\r\ndata: " % kind.encode()


_FRAME = b"id: %d%b%b\r\n\r\n"  # its id, its head, its data
_HEADS = {kind: _head(kind) for kind in get_args(Kind)}  # every kind a run sends
_dumps = orjson.dumps  # one lookup a frame, where orjson.dumps is two


class EventStream(EventSourceResponse):
    """aiohttp-sse's response (its headers, chunked encoding and TCP user timeout),
    entered with ``async with``: prepared, and watched by the app's ``StallWatch``
    until it is left. The watch's one timer sends its keep-alive comments, where
    aiohttp-sse starts and cancels a task for each stream.

    ``Connection`` is left to aiohttp: aiohttp-sse says keep-alive on every
    stream, even to a client that asked to close, which aiohttp then does: a
    client believing the header kept the connection for its next request, and
    that request found it closed.

    The headers wait for the first event of the same turn of the loop (a run's
    ``start``, written as soon as the stream is ready), so both leave in one
    system call and one packet; if none comes by the next turn, they leave alone."""

    _send_headers_immediately = False  # aiohttp's own switch; ``prepare`` below sends them by the next turn

    def __init__(self, request: web.Request, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(headers=headers)
        del self.headers[hdrs.CONNECTION]
        self._request = request
        self._watch = request.app[STALLS]
        self.writes: Writes  # set on entering

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self.prepared:
            return await super().prepare(request)  # aiohttp-sse's check that the visitor is still there
        # aiohttp-sse's preparation, but for its ping task.
        self._set_tcp_user_timeout(request)
        writer = await web.StreamResponse.prepare(self, request)
        self.enable_chunked_encoding()
        if writer is not None:
            asyncio.get_running_loop().call_soon(_send_headers, writer)
        return writer

    async def __aenter__(self) -> EventStream:
        await self.prepare(self._request)
        self.writes = self._watch.watch(self._request, self._keepalive)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._watch.forget(self.writes)

    async def _keepalive(self, writes: Writes) -> None:
        try:
            await send(writes, self, KEEPALIVE)
        except (ConnectionError, RuntimeError):
            pass  # the visitor left, or the stream has just ended: its own write or end says so


def _send_headers(writer: AbstractStreamWriter) -> None:
    try:
        writer.send_headers()  # nothing, once a write has sent them
    except ConnectionError:
        pass  # the visitor left already; the stream's own write will say so


def event_stream(request: web.Request, headers: Mapping[str, str] | None = None) -> EventStream:
    """An SSE response to ``request`` (aiohttp-sse sets ``STREAM_HEADERS`` itself), to enter."""
    return EventStream(request, headers)


async def sse_sink(request: web.Request, source: Source) -> web.StreamResponse:
    """The run as Server-Sent Events: every event with an increasing id; each
    recorded for its result just before it is sent (and encoded once for both)."""
    recorder = _record(request, source)
    ids = itertools.count(1)
    try:
        async with event_stream(request, rate_headers(request)) as resp:
            writes = resp.writes

            async def write(events: list[Event]) -> None:
                if recorder is None:
                    data = b"".join([_FRAME % (next(ids), _HEADS[kind], _dumps(fields)) for kind, fields in events])
                else:
                    data = b"".join([_FRAME % (next(ids), _HEADS[kind], raw)
                                     for (kind, _), raw in zip(events, recorder.record(events))])
                await send(writes, resp, data, last=bool(events) and events[-1].kind == source.final)

            await _run(source, write, recorder)
    finally:
        _finish(source, recorder)
    return resp


def sse_frame(event_id: int, event: Event, data: bytes | None = None) -> bytes:
    """One SSE event (``data``: its data as JSON, where it was encoded already). JSON
    escapes CR and LF, so ``data`` is always a single line.

    orjson: encoding is the largest cost of a busy stream after the writes themselves.
    One bytes formatting costs a frame a sixth fewer instructions than a str made and
    encoded, then joined; a run's stream makes its frames inline (``sse_sink``), with
    each kind's lines between the id and the data made once."""
    return _FRAME % (event_id, _HEADS.get(event.kind) or _head(event.kind),
                     _dumps(event.data) if data is None else data)


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
    results = request.app[RESULTS]
    if not results.keeping:
        return None  # before the run is described for a result it will not get
    query = source.query
    # A tool whose lines are records for a program (mtr's) keeps no lines when continuous: its rows say it all.
    compaction = Compaction(lines=query.spec.text_view is None) if query.continuous else None
    return results.start(source.about(), final=source.final, compaction=compaction)


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
    writes.since = writes.began = time.monotonic()
    try:
        await (resp.write_eof(data) if last else resp.write(data))
    finally:
        writes.since = None


def rate_headers(request: web.Request) -> dict[str, str]:
    """The ``RateLimit-*`` headers of the run this request spent, for its response."""
    return dict(request.get(RATE_HEADERS, {}))
