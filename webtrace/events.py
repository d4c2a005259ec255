"""The structured events a run produces, shared by parsers, the stream and the sinks."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol


class Event(NamedTuple):
    kind: str  # start, line, reply, summary, hop, progress, end
    data: dict[str, Any]


class Parser(Protocol):
    """Turns a tool's lines into events; pure (no I/O), one instance per run."""

    def feed(self, line: str) -> list[Event]: ...

    def finish(self) -> list[Event]: ...


class NullParser:
    """For tools whose output is only streamed as lines."""

    def feed(self, line: str) -> list[Event]:
        return []

    def finish(self) -> list[Event]:
        return []
