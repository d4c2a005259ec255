"""The vantage points: this server, and the other webtraces it lists (WEBTRACE_NODES).

Whether another node is up, what it says of itself (``info``) and which tools
it offers come from its own answer to ``GET /api/v1/nodes``, asked every
``WEBTRACE_NODES_CHECK_INTERVAL`` seconds by a task of its own, never while a
visitor waits. A node that stops answering is logged once, and again once it
answers.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson

from ..settings import NodeSpec
from .client import Answer, CannotConnect, Endpoint, NodeError, ask

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3.0
ANSWER_TIMEOUT_S = 5.0
# A node's stream is silent longer than this (WEBTRACE_NODES_SILENCE_TIMEOUT) only if
# something is wrong: webtrace sends a comment every 10 s while a tool is quiet.
SILENCE_TIMEOUT_S = 30.0
# Beyond the tool's own limit, what a node's part may take: connecting, the node resolving
# the target before its tool starts and naming the hops after it ends, and this much more.
PART_SLACK_S = 2.0
MAX_ANSWER_BYTES = 64 * 1024
MAX_INFO = 200


@dataclass(slots=True)
class Node:
    name: str
    url: str | None  # None: this server
    info: str | None = None
    tools: list[str] = field(default_factory=list)
    up: bool = False
    why_down: str | None = None
    down_since: float | None = None  # when a check first found it down (epoch seconds); None: up, or not checked yet

    @property
    def local(self) -> bool:
        return self.url is None

    @property
    def down(self) -> bool:
        """Found down by a check (a node not checked yet is not down: the first check comes at once)."""
        return not self.up and self.down_since is not None

    @property
    def down_since_iso(self) -> str | None:
        """``down_since`` as the API gives it: "2026-12-05T10:42:00+00:00", or None."""
        if self.down_since is None:
            return None
        return datetime.fromtimestamp(self.down_since, timezone.utc).isoformat(timespec="seconds")

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "info": self.info, "local": self.local, "up": self.up,
                "down_since": self.down_since_iso, "tools": self.tools}

    def down_sentence(self) -> str:
        """As a visitor reads it: "Node gone is down since 2026-12-05 10:42 UTC: cannot connect (…)"."""
        assert self.down_since is not None
        since = datetime.fromtimestamp(self.down_since, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        why = f": {self.why_down}" if self.why_down else ""
        return f"Node {self.name} is down since {since}{why}."


class Nodes:
    """This server first, then the others in the order WEBTRACE_NODES gives."""

    def __init__(self, local: Node, others: Sequence[NodeSpec], *, interval: float,
                 silence: float = SILENCE_TIMEOUT_S, max_parts: int = 100, part_deadline: float = 60.0,
                 continuous_deadline: float = 0.0) -> None:
        self.local = local
        self.others = [Node(spec.name, spec.url) for spec in others]
        self.interval = interval
        self.silence = silence
        self.part_deadline = part_deadline  # seconds a node's part may last, whatever the node sends
        # The same for a continuous run's part (0: as any part).
        self.continuous_deadline = max(continuous_deadline, part_deadline)
        # Runs relayed to one node at once (WEBTRACE_MAX_JOBS, as for runs here): one
        # more is refused at once rather than left waiting for a connection.
        self.max_parts = max_parts
        self._parts: dict[str, int] = {}
        self._stopping = False  # set as the server shuts down: a part cut off by it ends "shutdown"
        self._relaying: set[asyncio.Task[Any]] = set()  # the parts reading a node's stream now
        self._endpoints = {node.name: Endpoint.of(node.url) for node in self.others if node.url is not None}
        self._tls: ssl.SSLContext | None = None  # made at start, when a node is asked over https

    def all(self) -> list[Node]:
        return [self.local, *self.others]

    def named(self, name: str) -> Node | None:
        return next((node for node in self.all() if node.name == name), None)

    async def start(self) -> None:
        if any(endpoint.tls for endpoint in self._endpoints.values()):
            self._tls = ssl.create_default_context()

    async def ask(self, node: Node, path: str, query: Mapping[str, str], headers: Mapping[str, str],
                  deadline: float | None = None) -> Answer:
        """``GET path?query`` on ``node``, on a connection of its own (one kept open could be
        closed by the node just as a run reuses it, and a run is never asked again); no
        cookies are kept, so nothing a node sets follows one visitor's run into another's.
        ``deadline``: the seconds from now by which the whole answer must have come."""
        return await ask(self._endpoints[node.name], path, query, headers, connect_timeout=CONNECT_TIMEOUT_S,
                         silence=self.silence, deadline=deadline, tls=self._tls)

    def take_place(self, node: Node) -> asyncio.Task[Any] | None:
        """A place for one more run relayed to ``node``, held by the calling task (returned;
        None: ``node`` has no place now) until it calls ``give_place``. ``stop`` cancels
        the tasks holding one as the server shuts down. (Two calls, not a context manager:
        contextlib's costs a part's set-up about a fourteenth more.)"""
        parts = self._parts.get(node.name, 0)
        if parts >= self.max_parts:
            return None
        self._parts[node.name] = parts + 1
        task = asyncio.current_task()
        assert task is not None
        self._relaying.add(task)
        return task

    def give_place(self, node: Node, task: asyncio.Task[Any]) -> None:
        """The place ``take_place`` gave ``task``, given back."""
        self._relaying.discard(task)
        self._parts[node.name] -= 1

    @property
    def stopping(self) -> bool:
        """Whether the server is shutting down (a part cut off then ends "shutdown")."""
        return self._stopping

    async def check_all(self) -> None:
        await asyncio.gather(*(self._check(node) for node in self.others))

    async def keep_checking(self) -> None:
        while True:
            await self.check_all()
            await asyncio.sleep(self.interval)

    async def _check(self, node: Node) -> None:
        assert node.url is not None
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                async with await self.ask(node, "/api/v1/nodes", {}, {"Accept": "application/json"}) as answer:
                    if 300 <= answer.status < 400:
                        raise ValueError(f"it answered with a redirect ({answer.status}), which is not followed")
                    if answer.status != 200:
                        raise ValueError(f"it answered {answer.status}")
                    own = _own_entry(orjson.loads(await answer.read(MAX_ANSWER_BYTES)))
        except (NodeError, TimeoutError, OSError, ValueError, orjson.JSONDecodeError) as exc:
            self._down(node, why_failed(exc))
            return
        node.info = own.get("info") if isinstance(own.get("info"), str) else None
        if node.info is not None:
            node.info = node.info[:MAX_INFO]
        tools = own.get("tools")
        node.tools = [t for t in tools if isinstance(t, str)] if isinstance(tools, list) else []
        if not node.up:
            log.info("node %s (%s) is up", node.name, node.url)
        node.up, node.why_down, node.down_since = True, None, None

    def _down(self, node: Node, why: str) -> None:
        if node.up or node.why_down is None:
            log.warning("node %s (%s) is down: %s", node.name, node.url, why)
        if node.down_since is None:
            node.down_since = time.time()
        node.up, node.why_down = False, why

    def stop(self) -> None:
        """The server is shutting down: end every part being relayed (each says "shutdown")."""
        self._stopping = True
        for task in list(self._relaying):
            task.cancel()


def part_deadline(run_timeout: float, resolve_timeout: float, name_timeout: float) -> float:
    """The longest a node's part may last, from the settings of this server (a node
    is expected to be set up alike)."""
    return run_timeout + CONNECT_TIMEOUT_S + resolve_timeout + name_timeout + PART_SLACK_S


def _own_entry(answer: Any) -> dict[str, Any]:
    """The answering node's own entry (``local``: true) in its ``/api/v1/nodes``."""
    nodes = answer.get("nodes") if isinstance(answer, dict) else None
    if isinstance(nodes, list):
        for entry in nodes:
            if isinstance(entry, dict) and entry.get("local") is True:
                return entry
    raise ValueError("its answer is not a webtrace's list of nodes")


def why_failed(exc: BaseException) -> str:
    """Why asking a node failed, in words a visitor can read."""
    if isinstance(exc, TimeoutError):
        return "it did not answer in time"
    if isinstance(exc, CannotConnect):
        return str(exc)
    return str(exc) or type(exc).__name__
