"""iputils ping (run with -n -O): replies, losses and the closing summary."""

from __future__ import annotations

import re
from typing import Any

from ..events import Event

# Numbers are ASCII digits with at most one point, and short enough to stay
# finite and fit JSON's integers: a parser meets whatever a tool (or a wrapper
# put first on PATH) prints, and must never raise on it.
_INT = r"\d{1,12}"
_NUMBER = r"\d{1,12}(?:\.\d{1,12})?"
_REPLY = re.compile(
    rf"^\d+ bytes from (?P<src>\S+?):? icmp_seq=(?P<seq>{_INT})"
    rf" ttl=(?P<ttl>\d{{1,3}}) time[=<](?P<rtt>{_NUMBER}) ms(?P<dup> \(DUP!\))?",
    re.ASCII,
)
_NO_ANSWER = re.compile(rf"^no answer yet for icmp_seq=(?P<seq>{_INT})", re.ASCII)
_ERROR = re.compile(rf"^From (?P<src>\S+?):? icmp_seq=(?P<seq>{_INT}) (?P<error>.+)$", re.ASCII)
_TOTALS = re.compile(
    rf"^(?P<sent>{_INT}) packets transmitted, (?P<received>{_INT}) received,"
    rf"(?: \+(?P<dups>{_INT}) duplicates,)?(?: \+(?P<errors>{_INT}) errors,)?"
    rf" (?P<loss>{_NUMBER})% packet loss",
    re.ASCII,
)
# ping -D puts the time of printing first: "[1732512345.123456] 64 bytes from …".
_TIMESTAMP = re.compile(r"\[\d+\.\d+\] ")
_DIGITS = frozenset("0123456789")
_RTT = re.compile(
    rf"^(?:rtt|round-trip) min/avg/max(?:/mdev|/stddev)? = ({_NUMBER}(?:/{_NUMBER}){{2,3}}) ms", re.ASCII
)


class PingParser:
    def __init__(self, count: int) -> None:
        self.count = count
        self._done = 0
        self._summary: dict[str, Any] = {}
        self._summary_sent = False

    def feed(self, line: str) -> list[Event]:
        if line.startswith("[") and (stamp := _TIMESTAMP.match(line)):
            line = line[stamp.end():]
        # Each pattern begins with its own first character: a line no pattern can
        # match (the header, the statistics' title, a blank) is not tried against them.
        head = line[:1]
        if head in _DIGITS:
            return self._numbered(line)
        if head == "n" and (m := _NO_ANSWER.match(line)):
            seq = int(m["seq"])
            lost = dict(seq=seq, rtt_ms=None, ttl=None, host=None, lost=True)
            return [Event("reply", lost), *self._progress(seq)]
        if head == "F" and (m := _ERROR.match(line)):
            seq = int(m["seq"])
            error = dict(
                seq=seq, rtt_ms=None, ttl=None, host=m["src"], lost=True, error=m["error"]
            )
            return [Event("reply", error), *self._progress(seq)]
        if head == "r" and (m := _RTT.match(line)):
            values = [float(v) for v in m[1].split("/")]
            names = ("min_ms", "avg_ms", "max_ms", "mdev_ms")
            self._summary.update(zip(names, values, strict=False))
            return self._send_summary()
        return []

    def _numbered(self, line: str) -> list[Event]:
        """A line that begins with a digit: a reply, or the totals."""
        if m := _REPLY.match(line):
            if m["dup"]:
                return []
            seq = int(m["seq"])
            reply = dict(seq=seq, rtt_ms=float(m["rtt"]), ttl=int(m["ttl"]), host=m["src"], lost=False)
            return [Event("reply", reply), *self._progress(seq)]
        if m := _TOTALS.match(line):
            self._summary.update(
                transmitted=int(m["sent"]),
                received=int(m["received"]),
                errors=int(m["errors"] or 0),
                loss_pct=float(m["loss"]),
            )
        return []  # the totals are sent with the times on the next line, or as ping ends where none are (all lost)

    def _progress(self, seq: int) -> list[Event]:
        done = min(max(self._done, seq), self.count)
        if done == self._done:
            return []
        self._done = done
        return [Event("progress", dict(done=done, total=self.count))]

    def finish(self) -> list[Event]:
        return [] if self._summary_sent or not self._summary else self._send_summary()

    def _send_summary(self) -> list[Event]:
        """ping's statistics once, whole: its totals line and the times after it are one summary."""
        self._summary_sent = True
        return [Event("summary", dict(self._summary))]
