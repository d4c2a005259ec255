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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..events import Event
from .stats import RttStats, loss_pct


@dataclass(slots=True)
class _Hop:
    hosts: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    sent: int = 0
    lost: int = 0
    pending: set[int] = field(default_factory=set)
    lost_seqs: set[int] = field(default_factory=set)
    rtt: RttStats = field(default_factory=RttStats)
    probes: dict[int, float | None] = field(default_factory=dict)  # by seq, in the order sent
    order: list[int] = field(default_factory=list)  # seqs in the order sent: cycle n's is order[n - 1]
    answered_by: dict[int, str] = field(default_factory=dict)  # seq -> the address that answered it
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
        return {**self.row(pos), "rtts_ms": list(self.probes.values())}

    def settle(self) -> bool:
        if not self.pending:
            return False
        self.lost += len(self.pending)
        self.lost_seqs |= self.pending
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
        hop.settle()
        hop.sent += 1
        hop.pending.add(seq)
        hop.probes[seq] = None
        hop.order.append(seq)
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
        if seq in hop.pending:
            hop.pending.discard(seq)
        elif seq in hop.lost_seqs:
            hop.lost_seqs.discard(seq)
            hop.lost -= 1
        else:
            return []  # a duplicate, or a reply to a probe this parser never saw sent
        rtt = usec / 1000.0
        hop.rtt.add(rtt)
        hop.probes[seq] = rtt
        if hop.current is not None:
            hop.answered_by[seq] = hop.current
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
        for pos in range(max(self._emitted, default=-1) + 1):
            hop = self._hops.get(pos)
            seq = hop.order[number - 1] if hop is not None and len(hop.order) >= number else None
            rtt = hop.probes.get(seq) if hop is not None and seq is not None else None
            rtts.append(rtt)
            hosts.append(hop.answered_by.get(seq) if hop is not None and seq is not None and rtt is not None else None)
        return Event("cycle", {"cycle": number, "rtts_ms": rtts, "hosts": hosts})

    def finish(self) -> list[Event]:
        first = self._hops.get(0)
        rows = self._cycles_up_to(first.sent) if first is not None else []
        for pos, hop in sorted(self._hops.items()):
            hop.settle()
            if self._visible(pos) and hop.sent:
                rows.append(Event("hop", hop.last_row(pos)))
        return rows
