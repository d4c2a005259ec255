"""The words every room shares: the events a run tells, and how a run ended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol, get_args

# Every event a stream can carry (see README, Events).
Kind = Literal["start", "line", "reply", "summary", "hop", "trim", "progress", "end", "done", "incomplete"]
Status = Literal["ok", "failed", "timeout", "cancelled", "shutdown"]
# How one node's part of a run from several places may end, besides a Status.
PartStatus = Literal["ok", "failed", "timeout", "cancelled", "shutdown", "refused", "unavailable"]
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
            "address": {"type": "string", "description": "the literal address the tool runs against"},
            "family": {"type": "string", "enum": ["4", "6"]},
            "protocol": {"type": "string", "enum": list(PROTOCOLS)},
            "port": {"type": ["integer", "null"], "description": "null: the tool's own"},
            "count": {"type": ["integer", "null"], "description": "probes or cycles; null for traceroute"},
            "command": {"type": "string", "description": "the argv, as a shell would quote it"},
            "result": {"type": ["string", "null"],
                       "description": "the run's result id (/r/{id}); null where results are not kept"},
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
        "description": "ping: the closing statistics, as far as printed",
        "properties": {
            name: {"type": "number"}
            for name in ("transmitted", "received", "errors", "loss_pct", "min_ms", "avg_ms", "max_ms", "mdev_ms")
        },
    },
    "hop": {
        "type": "object",
        "description": "traceroute and mtr: the hop's current row, sent again whenever it changes",
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
            "rtts_ms": {"type": "array", "items": _NUMBER_OR_NULL, "description": "traceroute: each probe"},
            "notes": {"type": "array", "items": {"type": "string"}, "description": "traceroute: !H, !N, ..."},
        },
    },
    "trim": {
        "type": "object",
        "description": "mtr: the table has only this many hops; drop the rows past it",
        "required": ["hops"],
        "properties": {"hops": {"type": "integer"}},
    },
    "progress": {
        "type": "object",
        "required": ["done", "total"],
        "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}},
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
# A run from several nodes (nodes=) tags every event with the node it comes from.
for _schema in EVENT_DATA.values():
    _schema["properties"]["node"] = {"type": "string", "description": "nodes=: the node it comes from"}


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
