"""Linux traceroute: one hop per line, each with its hosts and probe times."""

from __future__ import annotations

import re
from typing import Any

from ..events import Event
from .stats import RttStats, loss_pct

# ASCII digits only, times with at most one point and short enough to stay
# finite: a parser meets whatever a tool (or a wrapper put first on PATH)
# prints, and must never raise on it.
_HOP = re.compile(r"^\s*(?P<hop>\d{1,3})\s+(?P<rest>.*)$", re.ASCII)
_TOKEN = re.compile(
    r"(?P<host>(?P<name>[^\s()]+) \((?P<addr>[^\s()]+)\))"
    r"|(?<![\d.])(?P<rtt>\d{1,12}(?:\.\d{1,12})?) ms"
    r"|(?P<star>\*)"
    r"|(?P<note>![A-Za-z]?\d*)"
    r"|(?P<bare>[0-9a-fA-F.:]+)",
    re.ASCII,
)


def parse_hop(line: str) -> dict[str, Any] | None:
    """A hop row from one line of traceroute, or None for any other line."""
    m = _HOP.match(line)
    if m is None:
        return None
    hosts: list[dict[str, Any]] = []
    rtts: list[float | None] = []
    answered_by: list[int | None] = []  # for each probe, the host printed before its time
    notes: list[str] = []
    for token in _TOKEN.finditer(m["rest"]):
        if token["host"]:
            name, addr = token["name"], token["addr"]
            hosts.append(dict(address=addr, name=None if name == addr else name))
        elif token["rtt"]:
            rtts.append(float(token["rtt"]))
            answered_by.append(len(hosts) - 1 if hosts else None)
        elif token["star"]:
            rtts.append(None)
            answered_by.append(None)
        elif token["note"]:
            notes.append(token["note"])
        elif token["bare"]:
            hosts.append(dict(address=token["bare"], name=None))
    if not rtts and not hosts:
        return None
    stats = RttStats()
    for rtt in rtts:
        if rtt is not None:
            stats.add(rtt)
    sent = len(rtts)
    return dict(
        hop=int(m["hop"]),
        hosts=hosts,
        rtts_ms=rtts,
        probe_hosts=answered_by,
        notes=notes,
        sent=sent,
        received=stats.count,
        loss_pct=loss_pct(sent - stats.count, sent),
        **stats.columns(),
    )


class TracerouteParser:
    def feed(self, line: str) -> list[Event]:
        hop = parse_hop(line)
        return [] if hop is None else [Event("hop", hop)]

    def finish(self) -> list[Event]:
        return []
