"""mtr --raw: probe records folded into a live hop table.

Records are ``x POS SEQ`` (probe sent), ``h POS ADDR`` (host seen), ``d POS NAME``
(its reverse name) and ``p POS USEC SEQ`` (reply). A probe counts as lost once
the next probe to the same hop has been sent without an answer, and is counted
back if its reply turns up late; ``finish`` settles the probes still in flight.
mtr keeps probing past the target until it learns where the target is, so hops
beyond the first one that answered from the target's address are dropped. A
row is shown only once it is at most one hop past the furthest hop that has
answered, which keeps most phantom rows off the table; when the target turns
out to be nearer than a row already sent (its first replies were lost), a
``trim`` event tells the client how many hops the table really has. At the end
every hop's last row carries each probe's round-trip time (``rtts_ms``, in the
order sent, null for a lost probe): what the per-probe formats (RIPE Atlas) need.

Each completed cycle (a probe to every hop) is told as a ``cycle`` event with each
hop's time and answering address in it, once the next cycle begins (or as the
run ends): what a continuous run's history per hop is drawn from. A reply that
comes after the next cycle began counts in its hop's row, not in its cycle.

A continuous run lasts many minutes, so what a hop keeps per probe is its time
alone, eight bytes in an array: which probe a sequence number names is kept only
for the latest ``LATE_PROBES`` probes of the hop (a reply later than that is not
counted: mtr's sequence numbers wrap, and it could be counted against the wrong
probe), and which address answered a probe only until its cycle is told.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Any

from ..events import Event
from .stats import RttStats, loss_pct

# How many of a hop's latest probes a reply may still be counted for.
LATE_PROBES = 64
_NONE = math.nan  # a probe's time while it has none (lost, or not answered yet)


@dataclass(slots=True)
class _Hop:
    hosts: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    sent: int = 0
    lost: int = 0
    pending: set[int] = field(default_factory=set)
    rtt: RttStats = field(default_factory=RttStats)
    # Each probe's time in the order sent (cycle n's is probe n - 1); NaN: none.
    rtts: array[float] = field(default_factory=lambda: array("d"))
    recent: dict[int, int] = field(default_factory=dict)  # seq -> its probe, for the latest LATE_PROBES
    answered_by: dict[int, str] = field(default_factory=dict)  # probe -> the address that answered, until told
    current: str | None = None  # the address this hop answers from now (its last ``h``)

    def row(self, pos: int) -> dict[str, Any]:
        settled = self.rtt.count + self.lost
        return dict(
            hop=pos + 1,
            hosts=[dict(address=a, name=self.names.get(a)) for a in self.hosts],
            sent=self.sent,
            received=self.rtt.count,
            loss_pct=loss_pct(self.lost, settled),
            **self.rtt.columns(),
        )

    def last_row(self, pos: int) -> dict[str, Any]:
        # Only the last: sent with every change, the list would grow the result quadratically.
        return {**self.row(pos), "rtts_ms": [None if math.isnan(rtt) else rtt for rtt in self.rtts]}

    def time_of(self, probe: int) -> float | None:
        rtt = self.rtts[probe] if probe < len(self.rtts) else _NONE
        return None if math.isnan(rtt) else rtt

    def send(self, seq: int) -> None:
        self.settle()
        self.sent += 1
        self.pending.add(seq)
        self.recent.pop(seq, None)  # a number mtr wrapped round to: now the newest
        self.recent[seq] = len(self.rtts)
        self.rtts.append(_NONE)
        if len(self.recent) > LATE_PROBES:
            del self.recent[next(iter(self.recent))]

    def settle(self) -> bool:
        if not self.pending:
            return False
        self.lost += len(self.pending)
        self.pending.clear()
        return True


class MtrParser:
    def __init__(self, address: str, count: int) -> None:
        self.address = address
        self.count = count
        self._hops: dict[int, _Hop] = {}
        self._last_pos: int | None = None  # the hop at which the target answered
        self._answered = -1  # the furthest hop with a host
        self._emitted: set[int] = set()  # hops the client has a row for
        self._cycles = 0
        self._told = 0  # cycles told in a ``cycle`` event

    def feed(self, line: str) -> list[Event]:
        parts = line.split()
        # A hop's position is at most three ASCII digits (mtr probes 255 hops at most).
        if len(parts) < 3 or len(parts[0]) != 1:
            return []
        position = parts[1]
        if not (position.isascii() and position.isdigit() and len(position) <= 3):
            return []
        kind, pos = parts[0], int(parts[1])
        if self._last_pos is not None and pos > self._last_pos:
            return []
        hop = self._hops.get(pos)
        if hop is None:
            hop = self._hops[pos] = _Hop()
        try:
            if kind == "x":
                events = self._sent(pos, hop, int(parts[2]))
            elif kind == "h":
                events = self._host(pos, hop, parts[2])
            elif kind == "d":
                events = self._name(pos, hop, parts[2])
            elif kind == "p" and len(parts) >= 4:
                events = self._reply(pos, hop, int(parts[2]), int(parts[3]))
            else:
                return []
        except (ValueError, OverflowError):  # not a number, or too large for a time
            return []
        shown = [e for e in events if e.kind != "hop" or self._visible(e.data["hop"] - 1)]
        self._emitted.update(e.data["hop"] - 1 for e in shown if e.kind == "hop")
        return shown

    def _visible(self, pos: int) -> bool:
        return pos <= self._answered + 1

    def _sent(self, pos: int, hop: _Hop, seq: int) -> list[Event]:
        hop.send(seq)
        events = self._cycles_up_to(hop.sent - 1) if pos == 0 else []
        events.append(Event("hop", hop.row(pos)))
        cycles = min(hop.sent, self.count)
        if cycles > self._cycles:
            self._cycles = cycles
            events.append(Event("progress", dict(done=cycles, total=self.count)))
        return events

    def _host(self, pos: int, hop: _Hop, address: str) -> list[Event]:
        events: list[Event] = []
        if address == self.address and (self._last_pos is None or pos < self._last_pos):
            self._last_pos = pos
            for beyond in [p for p in self._hops if p > pos]:
                del self._hops[beyond]
            self._answered = min(self._answered, pos)
            if any(p > pos for p in self._emitted):
                self._emitted = {p for p in self._emitted if p <= pos}
                events.append(Event("trim", {"hops": pos + 1}))
        hop.current = address
        if address in hop.hosts:
            return events
        hop.hosts.append(address)
        events.append(Event("hop", hop.row(pos)))
        if pos > self._answered:
            # Rows withheld so far (silent hops before this one) can be shown now.
            hidden = range(self._answered + 2, pos + 2)
            self._answered = pos
            events += [Event("hop", self._hops[p].row(p)) for p in hidden if p != pos and p in self._hops]
        return events

    def _name(self, pos: int, hop: _Hop, name: str) -> list[Event]:
        if not hop.hosts:
            return []
        address = hop.hosts[-1]
        if name == address or hop.names.get(address) == name:
            return []
        hop.names[address] = name
        return [Event("hop", hop.row(pos))]

    def _reply(self, pos: int, hop: _Hop, usec: int, seq: int) -> list[Event]:
        probe = hop.recent.get(seq)
        if probe is None or not math.isnan(hop.rtts[probe]):
            return []  # a duplicate, a reply too late, or to a probe this parser never saw sent
        if seq in hop.pending:
            hop.pending.discard(seq)
        else:
            hop.lost -= 1  # counted lost when the next probe went: it came late
        rtt = usec / 1000.0
        hop.rtt.add(rtt)
        hop.rtts[probe] = rtt
        if hop.current is not None and probe >= self._told:  # its cycle is still to be told
            hop.answered_by[probe] = hop.current
        return [Event("hop", hop.row(pos))]

    def _cycles_up_to(self, last: int) -> list[Event]:
        """A ``cycle`` event for each completed cycle not told yet, up to ``last``."""
        events = []
        while self._told < last:
            self._told += 1
            events.append(self._cycle(self._told))
        return events

    def _cycle(self, number: int) -> Event:
        """Cycle ``number``: each shown hop's time and answering address in it."""
        rtts: list[float | None] = []
        hosts: list[str | None] = []
        probe = number - 1
        for pos in range(max(self._emitted, default=-1) + 1):
            hop = self._hops.get(pos)
            rtt = hop.time_of(probe) if hop is not None else None
            rtts.append(rtt)
            hosts.append(hop.answered_by.get(probe) if hop is not None and rtt is not None else None)
        for hop in self._hops.values():
            hop.answered_by.pop(probe, None)  # told: a later reply counts in its row only
        return Event("cycle", {"cycle": number, "rtts_ms": rtts, "hosts": hosts})

    def finish(self) -> list[Event]:
        first = self._hops.get(0)
        rows = self._cycles_up_to(first.sent) if first is not None else []
        for pos, hop in sorted(self._hops.items()):
            hop.settle()
            if self._visible(pos) and hop.sent:
                rows.append(Event("hop", hop.last_row(pos)))
        return rows
