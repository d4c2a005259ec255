"""mtr for a terminal (the text route): a line as each hop's host is first seen,
and at the end the hop table laid out as ``mtr --report`` lays it out. A
continuous run prints the table every ``EVERY_CYCLES`` cycles too, with the
count of cycles so far, so that ``curl -N`` shows something while it runs.

mtr's own ``--raw`` records, which the live table is made from, mean nothing
to a person; this reads the events the parser made of them instead. Pure:
events in, lines out.
"""

from __future__ import annotations

import time
from typing import Any

from ..events import Event

HOST_WIDTH = 25  # mtr --report's narrowest host column
COLUMNS = ("Loss%", "Snt", "Last", "Avg", "Best", "Wrst", "StDev")
EVERY_CYCLES = 10


def host_label(host: dict[str, Any]) -> str:
    """``AS64500 r2.example.net (192.0.2.1) [NL]``, as much of it as is known
    (the AS first, as mtr -z shows it)."""
    name = host.get("name")
    label = f"{name} ({host['address']})" if name else host["address"]
    if host.get("asn"):
        label = f"AS{host['asn']} {label}"
    if host.get("country"):
        label = f"{label} [{host['country']}]"
    return label


class MtrReport:
    """Turns an mtr run's events into the lines a curl user reads."""

    def __init__(self, server: str, started: float | None = None) -> None:
        self.server = server
        self.started = time.time() if started is None else started
        self._rows: dict[int, dict[str, Any]] = {}
        self._shown: set[tuple[int, str]] = set()  # (hop, address) already announced
        self._started = False
        self._continuous = False
        self._cycles = 0

    def lines(self, event: Event) -> list[str]:
        if event.kind == "start":
            # A node's part that ended before its node began it has a start with no address.
            self._started = event.data.get("address") is not None
            self._continuous = event.data.get("continuous") is True
        elif event.kind == "cycle":
            self._cycles = event.data["cycle"]
            if self._continuous and self._cycles % EVERY_CYCLES == 0:
                return self.report()
        elif event.kind == "hop":
            return self._hop(event.data)
        elif event.kind == "trim":
            return self._trim(event.data["hops"])
        elif event.kind == "end" and (self._started or self._rows):
            return self.report()  # a node's part that never began has nothing to report, only its end
        return []

    def _hop(self, row: dict[str, Any]) -> list[str]:
        self._rows[row["hop"]] = row
        out = []
        for host in row["hosts"]:
            if (row["hop"], host["address"]) not in self._shown:
                self._shown.add((row["hop"], host["address"]))
                out.append(f"{row['hop']:>3}. {host_label(host)}")
        return out

    def _trim(self, hops: int) -> list[str]:
        """mtr placed the target too far at first (its nearer replies were lost):
        say so, since a line announced it there already."""
        self._rows = {hop: row for hop, row in self._rows.items() if hop <= hops}
        if not any(hop > hops for hop, _ in self._shown):
            return []
        self._shown = {(hop, address) for hop, address in self._shown if hop <= hops}
        return [f"     (the target is hop {hops}: its replies from nearer were lost at first)"]

    def report(self) -> list[str]:
        rows = [self._rows[hop] for hop in sorted(self._rows)]
        labels = [[host_label(h) for h in row["hosts"]] or ["???"] for row in rows]
        width = max([HOST_WIDTH, *(len(label) for row in labels for label in row)])
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started))
        # Each heading right-aligned over its column: a row is "NNN.|-- ", the host, a space, six-wide figures.
        head = f"HOST: {self.server:<{width + 3}}" + "".join(f"{c:>6}" for c in COLUMNS)
        out = ["", f"Start: {stamp}"]
        if self._continuous:
            out.append(f"Cycles: {self._cycles}")
        out.append(head.rstrip())
        for row, names in zip(rows, labels, strict=True):
            out.append(f"{row['hop']:>3}.|-- {names[0]:<{width}} " + _figures(row))
            out.extend(f"    |-- {name}" for name in names[1:])
        return out


def _figures(row: dict[str, Any]) -> str:
    def ms(name: str) -> str:
        value = row.get(name)
        return f"{0.0 if value is None else value:6.1f}"

    return f"{row['loss_pct']:5.1f}% {row['sent']:5d}" + "".join(
        ms(name) for name in ("last_ms", "avg_ms", "best_ms", "worst_ms", "stdev_ms"))
