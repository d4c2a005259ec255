"""What a result is: a run's description and the events its visitor saw, numbered
as the stream numbered them. Nothing about the visitor is kept."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# (id, event, data): the SSE id, the event's name and its data.
StoredEvent = tuple[int, str, dict[str, Any]]

# 16 random bytes, base64url without padding: 128 bits in 22 characters.
ID_BYTES = 16
_ID = re.compile(r"[A-Za-z0-9_-]{22}")
# What ``start`` says of a run, kept as its description.
META_FIELDS = ("tool", "target", "address", "family", "protocol", "port", "count", "command")


def new_result_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def is_result_id(text: str) -> bool:
    return _ID.fullmatch(text) is not None


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Result:
    id: str
    meta: dict[str, Any]  # META_FIELDS, and ``node``: where it was taken
    started_at: float  # Unix time
    ended_at: float | None = None
    status: str | None = None  # the end event's; None while it runs
    cut: bool = False  # outgrew the size cap: events after the cut were not kept
    incomplete: bool = False  # the store failed while it was being written
    events: list[StoredEvent] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {**self.about(), "events": [{"id": i, "event": kind, "data": data} for i, kind, data in self.events]}

    def about(self) -> dict[str, Any]:
        """The result as JSON but its events."""
        return {
            "id": self.id,
            **{name: self.meta.get(name) for name in (*META_FIELDS, "node")},
            # A run from several places (nodes=): which; each event says its node.
            **({"nodes": self.meta["nodes"]} if self.meta.get("nodes") else {}),
            **({"continuous": True} if self.meta.get("continuous") else {}),
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "status": self.status,
            "cut": self.cut,
            "incomplete": self.incomplete,
        }
