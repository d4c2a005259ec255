"""The words every room shares: the events a run tells, and how a run ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

# Every event a stream can carry (see README, Events).
Kind = Literal["start", "line", "reply", "summary", "hop", "trim", "progress", "end", "done"]
Status = Literal["ok", "failed", "timeout", "cancelled", "shutdown"]
# How one node's part of a run from several places may end, besides a Status.
PartStatus = Literal["ok", "failed", "timeout", "cancelled", "shutdown", "refused", "unavailable"]


class Event(NamedTuple):
    kind: Kind
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended: what the ``end`` event, the metrics and the access log say."""

    status: Status
    exit_code: int | None
    duration_s: float
    message: str


class TextView(Protocol):
    """What a run's events look like on the text routes, where a tool's own lines
    are not what a person should read (mtr's raw records). Pure."""

    def lines(self, event: Event) -> list[str]: ...


class Parser(Protocol):
    """Turns a tool's lines into events; pure (no I/O), one instance per run."""

    def feed(self, line: str) -> list[Event]: ...

    def finish(self) -> list[Event]: ...
