"""A kept run folded into what other tools' formats describe: for each place it
ran from, its start, its hop table as it ended, its replies, its summary and its
end. Pure: stored events in, parts out.

A hop row is sent again whenever it changes, so only each hop's last row counts;
mtr's ``trim`` drops the rows past where the target turned out to be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

# (id, event, data), as a result keeps them.
Stored = tuple[int, str, dict[str, Any]]


class KeptRun(Protocol):
    """What the formats read of a kept result (``results.records.Result`` is one)."""

    @property
    def id(self) -> str: ...

    @property
    def meta(self) -> Mapping[str, Any]: ...  # start's fields, ``node`` and, from several, ``nodes``

    @property
    def started_at(self) -> float: ...

    @property
    def ended_at(self) -> float | None: ...

    @property
    def events(self) -> Sequence[Stored]: ...


@dataclass(slots=True)
class Part:
    """One place's run: the whole run, or one node's part of a run from several."""

    node: str
    start: dict[str, Any] = field(default_factory=dict)
    hops: dict[int, dict[str, Any]] = field(default_factory=dict)
    replies: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    end: dict[str, Any] | None = None

    @property
    def ran(self) -> bool:
        """Whether a tool ran at all (a node that refused has a start with no address)."""
        return bool(self.start.get("address"))

    def table(self) -> list[dict[str, Any]]:
        """The hop rows in hop order."""
        return [self.hops[hop] for hop in sorted(self.hops)]


def parts(run: KeptRun) -> list[Part]:
    """The run's parts in the order they first spoke; one for a run from one place."""
    here = str(run.meta.get("node") or "")
    found: dict[str, Part] = {}
    for _, kind, data in run.events:
        node = data.get("node", here)
        if kind == "done" or not isinstance(node, str):
            continue
        part = found.get(node)
        if part is None:
            part = found[node] = Part(node)
        _fold(part, kind, data)
    return list(found.values())


def _fold(part: Part, kind: str, data: dict[str, Any]) -> None:
    if kind == "start":
        part.start = data
    elif kind == "hop":
        part.hops[data["hop"]] = data
    elif kind == "trim":
        part.hops = {hop: row for hop, row in part.hops.items() if hop <= data["hops"]}
    elif kind == "reply":
        part.replies.append(data)
    elif kind == "summary":
        part.summary = {**part.summary, **data}
    elif kind == "end":
        part.end = data


def several(run: KeptRun) -> bool:
    return bool(run.meta.get("nodes"))


def file_name(run: KeptRun, extension: str) -> str:
    """``webtrace-mtr-example.net-20261205T064501Z.json``: the tool, the target and
    when, in characters every file system and ``Content-Disposition`` take."""
    when = datetime.fromtimestamp(run.started_at, UTC).strftime("%Y%m%dT%H%M%SZ")
    target = "".join(c if c.isascii() and (c.isalnum() or c in ".-_") else "-" for c in str(run.meta.get("target")))
    tool = "".join(c for c in str(run.meta.get("tool")) if c.isascii() and c.isalnum())
    return f"webtrace-{tool}-{target[:100]}-{when}.{extension}"
