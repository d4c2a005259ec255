"""One node's part of a run from several places: its own stream, read and passed on.

The front asks the node's ``/api/v1/{tool}`` with the target as typed (the node
resolves it and applies its own policy) and the visitor as ``X-Forwarded-For``
(the node lists the front in ``WEBTRACE_TRUSTED_PROXIES``, so every visitor
keeps their own budget there). Whatever happens, the part ends with one
``end``: the node's own, or ``refused`` (the node's code and sentence),
``unavailable`` (it could not be reached, went silent or broke off) or
``shutdown`` (this server is stopping). Nothing is ever asked twice: a retry
could run a tool twice.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping

import orjson

from ..events import Event, end_since
from .checks import NODE_KINDS, node_event
from .client import Answer, NodeError, TooLong
from .registry import Node, Nodes, why_failed

Emit = Callable[[list[Event]], Awaitable[None]]

MAX_ERROR_BYTES = 16 * 1024
MAX_CODE, MAX_MESSAGE = 64, 1000  # a node's refusal, as passed on
MAX_FRAME_BYTES = 1024 * 1024  # an SSE event; a node's tool lines are far shorter
# The kinds passed on, by their names as sent; any other is skipped.
_KINDS = {kind.encode(): kind for kind in NODE_KINDS}
# A frame as webtrace writes one, read in one step; any other is read line by line, to the
# same effect: the kind and data of a frame are its last ``event`` and ``data`` lines.
_AS_WRITTEN = re.compile(rb"(?:id: [^\n]*\n)?event: ([^\n]*)\ndata: ([^\n]*)")


async def relay(nodes: Nodes, node: Node, path: str, query: Mapping[str, str], forwarded_for: str,
                emit: Emit, *, continuous: bool = False) -> None:
    """Pass the node's events for ``path?query`` to ``emit``, ending with the part's ``end``
    (``continuous``: a continuous run's part, which may last as long as one may). The
    node's own events come tagged with its ``node``, whatever it said there."""
    started = time.monotonic()
    holder = nodes.take_place(node)
    if holder is None:
        await emit([end_since("refused", f"This server is relaying as many runs to {node.name} as it may at "
                              f"once ({nodes.max_parts}); try again in a moment.", started, code="busy",
                              http_status=503)])
        return
    try:
        await _relay(nodes, node, path, query, forwarded_for, emit, started,
                     nodes.continuous_deadline if continuous else nodes.part_deadline)
    finally:
        nodes.give_place(node, holder)


async def _relay(nodes: Nodes, node: Node, path: str, query: Mapping[str, str], forwarded_for: str,
                 emit: Emit, started: float, most: float) -> None:
    headers = {"X-Forwarded-For": forwarded_for, "Accept": "text/event-stream"}
    try:
        # Whatever the node sends, and however slowly, its answer ends by the deadline
        # (``most``: kept by the answer's own watch, one timer for the part). Never
        # redirected: the visitor's address goes only to the URL the operator named.
        answer = await nodes.ask(node, path, query, headers, most)
        try:
            if answer.status != 200:
                code, message = await _refusal(node, answer)
                await emit([end_since("refused", message, started, code=code, http_status=answer.status)])
                return
            await _pass_on(answer, emit, node.name)
        finally:
            answer.close()
    except asyncio.CancelledError:
        if not nodes.stopping:
            raise  # the visitor left: closing the node's stream ends its tool
        task = asyncio.current_task()
        assert task is not None
        task.uncancel()  # cancelled by the shutdown, which wants this part's end said
        await emit([end_since("shutdown", "the run was stopped: the server is shutting down", started)])
    except (NodeError, TimeoutError, OSError, ValueError) as exc:
        # Not logged here, once per visitor: the periodic check logs a node going down, once.
        why = f"it did not end its run within {most:g} s" if isinstance(exc, TooLong) else why_failed(exc)
        await emit([end_since("unavailable", f"Node {node.name} is unavailable: {why}", started)])


class Frames:
    """Whole SSE frames out of bytes as they arrive, the lines of each ended by LF.

    SSE ends a line with CRLF, LF or CR; each piece is made LF-only as it comes
    (a CR that ends a piece may be the first half of a CRLF: an LF that begins the
    next piece is then dropped), so a frame's end is one separator, looked for in C.
    A piece with no end of a frame is set aside without a look at what waited
    before it, but for its last byte, so a node writing a long event in small
    pieces costs no more than one writing it at once."""

    def __init__(self, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_bytes = max_bytes
        self._pending = bytearray()
        self._after_cr = False

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._after_cr = chunk[-1:] == b"\r"
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        pending = self._pending
        if pending:
            if b"\n\n" not in chunk and not (pending[-1] == 10 and chunk[:1] == b"\n"):  # 10: LF
                pending += chunk
                if len(pending) > self.max_bytes:
                    raise ValueError("it sent an event too long to be one")
                return []
            chunk = bytes(pending + chunk)
        *frames, rest = chunk.split(b"\n\n")
        if len(rest) > self.max_bytes:
            raise ValueError("it sent an event too long to be one")
        self._pending = bytearray(rest)
        return frames


async def _pass_on(answer: Answer, emit: Emit, name: str) -> None:
    """The node's events as they come, those of one read passed on together, to its ``end``."""
    frames = Frames()
    while chunk := await answer.chunk():
        batch, ended = _events(frames.feed(chunk), name)
        if batch:
            await emit(batch)
        if ended:
            return
    raise ValueError("it broke off before the end of the run")


def _events(frames: list[bytes], name: str) -> tuple[list[Event], bool]:
    """The events in whole SSE frames, each checked (comments, ``done`` and unknown
    kinds skipped) and tagged with the node's ``name``, and whether the part's ``end``
    is among them (nothing after it is taken). Raises Untrusted for an event this
    server will not pass on."""
    batch: list[Event] = []
    for frame in frames:
        kind: str | None = None  # unnamed: "message", which no node sends
        data = b""
        if (written := _AS_WRITTEN.fullmatch(frame)) is not None:
            kind, data = _KINDS.get(written[1]), written[2]
        else:
            for line in frame.split(b"\n"):
                if line.startswith(b"event: "):
                    kind = _KINDS.get(line[7:])
                elif line.startswith(b"data: "):
                    data = line[6:]
        if kind is None or not data:
            continue
        event = node_event(kind, data)
        if event is None:
            continue
        event.data["node"] = name  # a dict of this read's own: tagged in place, not copied
        batch.append(event)
        if kind == "end":
            return batch, True
    return batch, False


async def _refusal(node: Node, answer: Answer) -> tuple[str, str]:
    """The node's own code and sentence for refusing."""
    if 300 <= answer.status < 400:
        return "redirect", (f"Node {node.name} answered with a redirect ({answer.status}), which this server does "
                            "not follow; its address here may be out of date.")
    try:
        body = orjson.loads(await answer.read(MAX_ERROR_BYTES))
        error = body["error"]
        return str(error["code"])[:MAX_CODE], str(error["message"])[:MAX_MESSAGE]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "refused", f"the node answered {answer.status}"
