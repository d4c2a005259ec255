"""The words every room shares: the events a run tells, and how a run ended.

``start``, ``end`` and ``done`` are built here alone (``start_event``,
``end_event``, ``done_event``), by the job, the relay, the fan-out and the sinks
alike; ``EVENT_DATA`` describes every event's data, closed, and is what the
API's description and the checks of a node's events both read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol, get_args

# Every event a stream can carry (see README, Events).
Kind = Literal["start", "line", "reply", "summary", "hop", "trim", "cycle", "progress", "end", "done", "incomplete"]
# limit: a continuous run whose visitor's budget could not pay its next slice.
Status = Literal["ok", "failed", "timeout", "cancelled", "shutdown", "limit"]
# How one node's part of a run from several places may end, besides a Status.
PartStatus = Literal["ok", "failed", "timeout", "cancelled", "shutdown", "limit", "refused", "unavailable"]
# What probes can be: every tool's protocol option speaks of these.
PROTOCOLS = ("icmp", "udp", "tcp")

Schema = dict[str, Any]
_NUMBER_OR_NULL: Schema = {"type": ["number", "null"]}
_INT_OR_NULL: Schema = {"type": ["integer", "null"]}

# What each event's data holds (README, Events). Keys: every name in events.Kind.
EVENT_DATA: Mapping[str, Schema] = {
    "start": {
        "type": "object",
        "required": ["tool", "target", "address", "family", "protocol", "port", "count", "command"],
        "properties": {
            "tool": {"type": "string"},
            "target": {"type": "string", "description": "as typed, trimmed"},
            "address": {"type": ["string", "null"],
                        "description": "the literal address the tool runs against; null: a node's part that "
                                       "ended before its node began it (its end says why)"},
            "family": {"type": ["string", "null"], "enum": ["4", "6", None],
                       "description": "the address's family; null where address is"},
            "protocol": {"type": "string", "enum": list(PROTOCOLS)},
            "port": {"type": ["integer", "null"], "description": "null: the tool's own"},
            "count": {"type": ["integer", "null"], "description": "probes or cycles; null for traceroute"},
            "command": {"type": ["string", "null"], "description": "the argv, as a shell would quote it; null "
                                                                   "where address is"},
            "result": {"type": ["string", "null"],
                       "description": "the run's result id (/r/{id}); null where results are not kept"},
            "continuous": {"type": "boolean",
                           "description": "present and true for a continuous run (continuous=true): it runs until "
                                          "stopped, its budget allows no more, or its most (progress.max_s)"},
        },
    },
    "line": {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string", "description": "one line exactly as the tool printed it"}},
    },
    "reply": {
        "type": "object",
        "description": "ping: one probe's answer, or its loss",
        "required": ["seq", "rtt_ms", "ttl", "host", "lost"],
        "properties": {
            "seq": {"type": "integer"},
            "rtt_ms": _NUMBER_OR_NULL,
            "ttl": _INT_OR_NULL,
            "host": {"type": ["string", "null"]},
            "lost": {"type": "boolean"},
            "error": {"type": "string", "description": "e.g. Destination Host Unreachable"},
        },
    },
    "summary": {
        "type": "object",
        "description": "ping: the closing statistics, as far as printed; tracepath: its Resume line",
        "properties": {
            **{name: {"type": "number"} for name in (
                "transmitted", "received", "errors", "loss_pct", "min_ms", "avg_ms", "max_ms", "mdev_ms")},
            "pmtu": {"type": "integer", "description": "tracepath: the path MTU, in bytes"},
            "hops": {"type": "integer", "description": "tracepath: hops to the target"},
            "back": {"type": "integer", "description": "tracepath: hops the answers came back over"},
            "local_pmtu": {"type": "integer",
                           "description": "tracepath: the MTU it began with here: this server's own towards the "
                                          "target, or a path MTU its kernel learnt from an earlier run and still "
                                          "keeps (then no hop reports the drop)"},
        },
    },
    "hop": {
        "type": "object",
        "description": "traceroute, mtr and tracepath: the hop's current row, sent again whenever it changes",
        "required": ["hop", "hosts", "sent", "received", "loss_pct"],
        "properties": {
            "hop": {"type": "integer", "minimum": 1},
            "hosts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["address"],
                    "properties": {
                        "address": {"type": "string"},
                        "name": {"type": ["string", "null"],
                                 "description": "reverse-DNS name; null until known (the row is sent again with it)"},
                        "asn": {"type": "integer", "minimum": 1, "description": "AS number, from WEBTRACE_ASN_DB"},
                        "as_name": {"type": "string", "description": "the AS's name, from WEBTRACE_ASN_DB"},
                        "country": {"type": "string", "pattern": "^[A-Z]{2}$",
                                    "description": "ISO 3166 country code, from WEBTRACE_GEO_DB"},
                    },
                },
            },
            "sent": {"type": "integer"},
            "received": {"type": "integer"},
            "loss_pct": {"type": "number"},
            **{name: _NUMBER_OR_NULL for name in ("last_ms", "avg_ms", "best_ms", "worst_ms", "stdev_ms")},
            "rtts_ms": {"type": "array", "items": _NUMBER_OR_NULL,
                        "description": "each probe's time in the order sent, null: lost (traceroute: every row; "
                                       "mtr: the hop's last row, sent as the run ends)"},
            "probe_hosts": {"type": "array", "items": _INT_OR_NULL,
                            "description": "traceroute: for each probe in rtts_ms, the index in hosts of the host "
                                           "that answered it; null: no answer"},
            "notes": {"type": "array", "items": {"type": "string"}, "description": "traceroute: !H, !N, ..."},
            "pmtu": {"type": "integer", "description": "tracepath: the path MTU dropped to this at this hop"},
            "asymm": {"type": "integer", "description": "tracepath: the answer came back over this many hops"},
        },
    },
    "trim": {
        "type": "object",
        "description": "mtr: the table has only this many hops; drop the rows past it",
        "required": ["hops"],
        "properties": {"hops": {"type": "integer"}},
    },
    "cycle": {
        "type": "object",
        "description": "mtr: one completed cycle, a probe to every hop; each list has an entry per hop from hop 1 "
                       "(a reply later than the next cycle counts in the hop's row, not here)",
        "required": ["cycle", "rtts_ms", "hosts"],
        "properties": {
            "cycle": {"type": "integer", "minimum": 1},
            "rtts_ms": {"type": "array", "items": _NUMBER_OR_NULL, "description": "null: no reply"},
            "hosts": {"type": "array", "items": {"type": ["string", "null"]},
                      "description": "the address that answered; null: no reply"},
        },
    },
    "progress": {
        "type": "object",
        "required": ["done", "total"],
        "properties": {
            "done": {"type": "integer"},
            "total": {"type": "integer", "description": "a continuous run: the most it may make"},
            "elapsed_s": {"type": "number", "description": "a continuous run: the seconds it has run"},
            "max_s": {"type": "number", "description": "a continuous run: the most seconds it may run"},
        },
    },
    "end": {
        "type": "object",
        "required": ["status", "exit_code", "duration_s", "message"],
        "properties": {
            "status": {"type": "string", "enum": list(get_args(PartStatus)),
                       "description": "refused and unavailable: a node's part of a run from several (nodes=)"},
            "exit_code": _INT_OR_NULL,
            "duration_s": {"type": "number"},
            "message": {"type": "string"},
            "code": {"type": "string", "description": "refused: the node's own refusal code"},
            "http_status": {"type": "integer", "description": "refused: the status the node answered"},
        },
    },
    "done": {
        "type": "object",
        "description": "a run from several nodes (nodes=): every node's part has ended",
        "required": ["status", "nodes"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "partial", "failed", "cancelled", "shutdown"]},
            "nodes": {"type": "object", "additionalProperties": {"type": "string", "enum": list(get_args(PartStatus))}},
        },
    },
    "incomplete": {
        "type": "object",
        "description": "a stored result's stream (/api/v1/results/{id}/events): its run stopped before its end "
                       "was stored, so the stream ends here without one",
        "required": ["message"],
        "properties": {"message": {"type": "string"}},
    },
}
# A run from several nodes (nodes=) tags every event with the node it comes from;
# beyond that, an event holds what its schema names and nothing else.
for _schema in EVENT_DATA.values():
    _schema["properties"]["node"] = {"type": "string", "description": "nodes=: the node it comes from"}
    _schema["additionalProperties"] = False
EVENT_DATA["hop"]["properties"]["hosts"]["items"]["additionalProperties"] = False


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


def start_event(*, tool: str, target: str, address: str | None, family: str | None, protocol: str,
                port: int | None, count: int | None, command: str | None, result: str | None,
                continuous: bool = False) -> Event:
    """A run's (or a node's part's) first event: what runs, against what."""
    data = {"tool": tool, "target": target, "address": address, "family": family, "protocol": protocol,
            "port": port, "count": count, "command": command, "result": result}
    if continuous:
        data["continuous"] = True
    return Event("start", data)


def end_event(status: str, message: str, *, duration_s: float, exit_code: int | None = None,
              code: str | None = None, http_status: int | None = None) -> Event:
    """A run's (or a node's part's) last event; ``code`` and ``http_status``: a refused part's."""
    data: dict[str, Any] = {"status": status, "exit_code": exit_code, "duration_s": duration_s, "message": message}
    if code is not None:
        data["code"] = code
    if http_status is not None:
        data["http_status"] = http_status
    return Event("end", data)


def outcome_end(outcome: Outcome) -> Event:
    """The ``end`` of a run that ran here."""
    return end_event(outcome.status, outcome.message, duration_s=outcome.duration_s, exit_code=outcome.exit_code)


def end_since(status: str, message: str, started: float, **refused: Any) -> Event:
    """The ``end`` of a part that ended without running here; ``started``: ``time.monotonic()`` at its start."""
    return end_event(status, message, duration_s=round(time.monotonic() - started, 3), **refused)


def done_event(status: str, nodes: Mapping[str, str]) -> Event:
    """A run from several nodes: every part has ended (``nodes``: how each did)."""
    return Event("done", {"status": status, "nodes": dict(nodes)})


def runs_summary(statuses: Mapping[str, str], *, continuous: bool = False) -> str:
    """A run from several nodes' status: ok if every part was, failed if none was, else
    partial. A continuous part that ran its most (``timeout``) ended as it should."""
    fine = ("ok", "timeout") if continuous else ("ok",)
    good = sum(status in fine for status in statuses.values())
    return "ok" if good == len(statuses) else "failed" if good == 0 else "partial"


class TextView(Protocol):
    """What a run's events look like on the text routes, where a tool's own lines
    are not what a person should read (mtr's raw records). Pure."""

    def lines(self, event: Event) -> list[str]: ...


class Parser(Protocol):
    """Turns a tool's lines into events; pure (no I/O), one instance per run."""

    def feed(self, line: str) -> list[Event]: ...

    def finish(self) -> list[Event]: ...
