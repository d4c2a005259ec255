"""tracepath -n (iputils): one probe a line, hop by hop, and the path MTU where it changes.

A line is ``N:`` (``N?:`` where tracepath guesses the hop) and then ``no reply``,
or the address that answered, its time (``0.512ms``) and what tracepath learnt
from it: ``pmtu 1400`` (the path MTU dropped there), ``asymm  3`` (the answer
came back over another number of hops) or ``reached``. tracepath asks a hop
again after the MTU changes, so a hop can have several lines: each is one probe
of that hop's row. ``[LOCALHOST]`` is the MTU tracepath begins with here, not a
hop: this host's own towards the target, or a path MTU its kernel learnt from
an earlier run and keeps for a while (ten minutes on Linux), in which case no
hop reports the drop again until it is forgotten; the summary says it as
``local_pmtu``. ``Resume: pmtu N hops N back N`` closes a run that got there
(``Too many hops: pmtu N`` one that did not): the ``summary``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..events import Event
from .stats import RttStats, loss_pct

# ASCII digits and bounded lengths: whatever a tool (or a wrapper on PATH) prints
# must parse or be passed over, never raise.
_HOP = re.compile(r"^\s*(?P<hop>\d{1,3})\??:\s+(?P<rest>\S.*)$", re.ASCII)
_ANSWER = re.compile(
    r"^(?P<address>[0-9a-fA-F.:]{2,45})\s+(?P<rtt>\d{1,9}\.\d{1,6})ms\b(?P<after>.*)$", re.ASCII)
_PMTU = re.compile(r"\bpmtu (?P<mtu>\d{1,6})\b", re.ASCII)
_ASYMM = re.compile(r"\basymm\s+(?P<back>\d{1,3})\b", re.ASCII)
_RESUME = re.compile(
    r"^\s*Resume: pmtu (?P<pmtu>\d{1,6})(?: hops (?P<hops>\d{1,3}) back (?P<back>\d{1,3}))?\s*$", re.ASCII)
_TOO_MANY = re.compile(r"^\s*Too many hops: pmtu (?P<pmtu>\d{1,6})\s*$", re.ASCII)


@dataclass(slots=True)
class _Hop:
    hosts: list[str] = field(default_factory=list)
    rtts: list[float | None] = field(default_factory=list)
    answered_by: list[int | None] = field(default_factory=list)
    stats: RttStats = field(default_factory=RttStats)
    pmtu: int | None = None
    asymm: int | None = None

    def row(self, number: int) -> dict[str, Any]:
        row: dict[str, Any] = dict(
            hop=number,
            hosts=[dict(address=a, name=None) for a in self.hosts],
            sent=len(self.rtts),
            received=self.stats.count,
            loss_pct=loss_pct(len(self.rtts) - self.stats.count, len(self.rtts)),
            **self.stats.columns(),
            rtts_ms=list(self.rtts),
            probe_hosts=list(self.answered_by),
        )
        if self.pmtu is not None:
            row["pmtu"] = self.pmtu
        if self.asymm is not None:
            row["asymm"] = self.asymm
        return row


class TracepathParser:
    def __init__(self) -> None:
        self._hops: dict[int, _Hop] = {}
        self._local_pmtu: int | None = None

    def feed(self, line: str) -> list[Event]:
        if (resume := _RESUME.match(line)) is not None:
            summary = self._summary(int(resume["pmtu"]))
            if resume["hops"] is not None:
                summary |= {"hops": int(resume["hops"]), "back": int(resume["back"])}
            return [Event("summary", summary)]
        if (too_many := _TOO_MANY.match(line)) is not None:
            return [Event("summary", self._summary(int(too_many["pmtu"])))]
        found = _HOP.match(line)
        if found is None:
            return []
        number, rest = int(found["hop"]), found["rest"].rstrip()
        if rest.startswith("[LOCALHOST]"):
            if (local := _PMTU.search(rest)) is not None and self._local_pmtu is None:
                self._local_pmtu = int(local["mtu"])
            return []  # where the path starts, not a hop
        if number == 0:
            return []
        if rest == "no reply":
            hop = self._hop(number)
            hop.rtts.append(None)
            hop.answered_by.append(None)
            return [Event("hop", hop.row(number))]
        answer = _ANSWER.match(rest)
        if answer is None:
            return []
        hop = self._hop(number)
        if answer["address"] not in hop.hosts:
            hop.hosts.append(answer["address"])
        rtt = float(answer["rtt"])
        hop.rtts.append(rtt)
        hop.answered_by.append(hop.hosts.index(answer["address"]))
        hop.stats.add(rtt)
        if (pmtu := _PMTU.search(answer["after"])) is not None:
            hop.pmtu = int(pmtu["mtu"])
        if (asymm := _ASYMM.search(answer["after"])) is not None:
            hop.asymm = int(asymm["back"])
        return [Event("hop", hop.row(number))]

    def _summary(self, pmtu: int) -> dict[str, int]:
        return {"pmtu": pmtu} if self._local_pmtu is None else {"pmtu": pmtu, "local_pmtu": self._local_pmtu}

    def _hop(self, number: int) -> _Hop:
        hop = self._hops.get(number)
        if hop is None:
            hop = self._hops[number] = _Hop()
        return hop

    def finish(self) -> list[Event]:
        return []
