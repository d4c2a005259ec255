"""Where a job's events go: an SSE stream (the page, the API) or a text stream
(curl, the original webtrace's routes). Each takes a started job and answers
the request with it; the job's run ends with the response, whatever happens.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson
from aiohttp import hdrs, web
from aiohttp_sse import EventSourceResponse, sse_response

from ..events import Event, Outcome
from ..jobs import Emit, Job, pump
from ..results.recorder import Recorder
from ..tools import ToolSpec
from .keys import NODE
from .ratelimit import RATE_HEADERS
from .stalls import STALLS

STREAM_HEADERS = {hdrs.CACHE_CONTROL: "no-cache", "X-Accel-Buffering": "no"}  # nginx: pass each line on
# Seconds between the SSE comments that keep idle proxies from closing a quiet stream.
SSE_PING_INTERVAL: web.AppKey[float] = web.AppKey("sse_ping_interval")

# C0 and C1 controls but tab: what a terminal would act on (colours, cursor moves,
# a title, a lone CR that rewrites the line so far); and the line and paragraph
# separators, which some readers of text (Python's splitlines) take as line ends.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_TRAILER_WORDS = ("ERROR:", "TIMEOUT:")


class EventStream(EventSourceResponse):
    """aiohttp-sse's response, with ``Connection`` left to aiohttp. aiohttp-sse says
    keep-alive on every stream, even to a client that asked to close, which aiohttp
    then does: a client believing the header kept the connection for its next
    request, and that request found it closed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        del self.headers[hdrs.CONNECTION]


def event_stream(request: web.Request, headers: Mapping[str, str] | None = None
                 ) -> AbstractAsyncContextManager[EventStream]:
    """An SSE response to ``request``, prepared on entering, with a comment every
    ``SSE_PING_INTERVAL`` seconds (aiohttp-sse sets ``STREAM_HEADERS`` itself)."""
    return sse_response(request, headers=headers, ping_interval=request.app[SSE_PING_INTERVAL],
                        response_cls=EventStream)


async def sse_stream(request: web.Request, job: Job, recorder: Recorder | None = None) -> web.StreamResponse:
    """The run as Server-Sent Events: every event with an increasing id; each
    recorded for its result (``recorder``) just before it is sent."""
    try:
        async with event_stream(request, rate_headers(request)) as resp:
            await _run(job, sse_writer(request, resp, recorder))
    finally:
        _finish(job, recorder)
    return resp


def sse_writer(request: web.Request, resp: web.StreamResponse, recorder: Recorder | None) -> Emit:
    """Writes events as SSE with increasing ids, each batch in one write, each event
    recorded for its result just before it is sent (and encoded once for both)."""
    ids = itertools.count(1)

    async def write(events: list[Event]) -> None:
        encoded: Iterable[bytes | None] = recorder.record(events) if recorder is not None else itertools.repeat(None)
        await send(request, resp, b"".join(sse_frame(next(ids), e, raw) for e, raw in zip(events, encoded)))

    return write


def sse_frame(event_id: int, event: Event, data: bytes | None = None) -> bytes:
    """One SSE event (``data``: its data as JSON, where it was encoded already). JSON
    escapes CR and LF, so ``data`` is always a single line.

    orjson: encoding is the largest cost of a busy stream after the writes themselves."""
    head = f"id: {event_id}\r\nevent: {event.kind}\r\ndata: ".encode()
    return head + (orjson.dumps(event.data) if data is None else data) + b"\r\n\r\n"


class TextLines:
    """What the text routes print for a run's events: the tool's own lines (or its
    text view's), and a closing line when the run did not end well. Pure; a
    stored result printed again with it is what its text route printed."""

    def __init__(self, spec: ToolSpec, server: str, started: float) -> None:
        self.tool = spec.name
        self.view = spec.text_view(server, started) if spec.text_view is not None else None

    def lines(self, event: Event) -> list[str]:
        out: list[str] = []
        if self.view is not None:
            out.extend(terminal_safe(line) for line in self.view.lines(event))
        elif event.kind == "line":
            out.append(terminal_safe(event.data["text"]))
        if event.kind == "end" and (trailer := text_trailer(self.tool, event.data)):
            out.append(trailer)
        return out


async def text_stream(request: web.Request, job: Job, recorder: Recorder | None = None) -> web.StreamResponse:
    """The original webtrace's plain text: the tool's lines, and a closing line
    when the run did not end well."""
    resp = text_response(request, recorder)
    text = TextLines(job.spec, request.app[NODE], recorder.started_at if recorder is not None else time.time())
    if text.view is None:
        job.notes = None  # the tool's own lines are shown: hop rows go nowhere
    try:
        await resp.prepare(request)
        await _run(job, text_writer(request, resp, recorder, text.lines))
        await resp.write_eof()
    finally:
        _finish(job, recorder)
    return resp


def text_response(request: web.Request, recorder: Recorder | None) -> web.StreamResponse:
    """A text stream's response, not yet prepared: with a link to its result, if it has one."""
    headers = {**STREAM_HEADERS, **rate_headers(request)}
    if recorder is not None:
        headers[hdrs.LINK] = f'<r/{recorder.id}>; rel="bookmark"'
    resp = web.StreamResponse(headers=headers)
    resp.content_type = "text/plain"
    resp.charset = "utf-8"
    return resp


def text_writer(request: web.Request, resp: web.StreamResponse, recorder: Recorder | None,
                lines: Callable[[Event], list[str]]) -> Emit:
    """Writes each batch of events as the lines ``lines`` makes of them, recording each
    event for its result just before."""

    async def write(events: list[Event]) -> None:
        if recorder is not None:
            recorder.record(events)
        out = [line for event in events for line in lines(event)]
        if out:
            await send(request, resp, ("\n".join(out) + "\n").encode("utf-8", "replace"))

    return write


def _finish(job: Job, recorder: Recorder | None) -> None:
    job.run.abandon()
    if recorder is not None:  # its visitor left before the end was sent: the result still ends
        outcome = job.run.outcome or Outcome("cancelled", None, 0.0, f"{job.spec.name} was stopped")
        recorder.finish(job.end_event(outcome).data)


def escaped(text: str) -> str:
    """``text`` with what a terminal would act on shown escaped (``\\x1b``), on one line."""
    return _CONTROL.sub(_escape, text)


def _escape(control: re.Match[str]) -> str:
    code = ord(control[0])
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_safe(line: str) -> str:
    """A tool's line for a curl user's terminal: escaped, and never beginning like
    webtrace's own trailer line."""
    line = escaped(line)
    return " " + line if line.startswith(_TRAILER_WORDS) else line


def text_trailer(tool: str, end: dict[str, Any]) -> str | None:
    """The closing line of a text stream that did not end well (the original's
    wording). The sentence may be a node's: it is escaped as a tool's line is."""
    status = end["status"]
    if status == "ok":
        return None
    if status == "timeout":
        return f"TIMEOUT: {escaped(str(end['message']))}"
    if status == "failed" and isinstance(end.get("exit_code"), int) and end["exit_code"] > 0:
        return f"ERROR: {tool} exited with status {end['exit_code']}"
    return f"ERROR: {escaped(str(end['message']))}"


async def _run(job: Job, emit: Emit) -> None:
    try:
        await pump(job, emit)
    except ConnectionError:
        pass  # the client left; leaving the run's context ended the process group


async def send(request: web.Request, resp: web.StreamResponse, data: bytes) -> None:
    stalls = request.app[STALLS]
    stalls.writing(request)
    try:
        await resp.write(data)
    finally:
        stalls.written(request)


def rate_headers(request: web.Request) -> dict[str, str]:
    """The ``RateLimit-*`` headers of the run this request spent, for its response."""
    return dict(request.get(RATE_HEADERS, {}))
