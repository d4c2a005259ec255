"""The query parameters of the routes, as data: each route's record lists those it
reads (``routes``), the views read them through these definitions, and the API's
description (``webtrace.web.openapi``) lists them from the same ones, so the two
cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..events import PROTOCOLS
from ..formats.exports import EXPORT_NAMES, OWN_FORMATS
from ..net.targets import AFTYPES, Family
from ..refusals import BadRequest


@dataclass(frozen=True, slots=True, eq=False)  # one object a parameter: found in a route's by identity, in C
class Param:
    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False

    def read(self, request: web.Request) -> str | None:
        """The parameter, given at most once (a repeated one is ambiguous: 400)."""
        values = request.query.getall(self.name, [])
        if len(values) > 1:
            raise BadRequest(f"{self.name} is given more than once")
        return values[0] if values else None


TARGET = Param(
    "target",
    "What to probe: an IPv4 or IPv6 address or a host name (the host of a pasted http(s) URL is taken). "
    "Missing or empty: 400.",
    {"type": "string"},
    required=True,
)


def _any_case(words: list[str]) -> dict[str, Any]:
    """A string schema for one of ``words`` in any letter case, or empty (as the parsers read them)."""
    spelled = ["".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word) for word in words]
    return {"type": "string", "pattern": f"^({'|'.join(spelled)})?$"}


FAMILY = Param(
    "family",
    "The address family to run in (a name resolves in it): auto, 4 or 6; empty is auto.",
    _any_case([f.value for f in Family]),
)
AFTYPE = Param(
    "aftype",
    "The original webtrace's address family: ipv4 or ipv6; empty or auto is either.",
    _any_case(sorted(name for name in AFTYPES if name)),
)
PROTOCOL = Param(
    "protocol",
    "What the probes are: icmp, udp or tcp. traceroute's own is udp, mtr's icmp; ping speaks icmp only.",
    {"type": "string", "enum": ["", *PROTOCOLS]},
)
PORT = Param(
    "port",
    "The port udp or tcp probes go to (tcp: 80 unless given; udp: the tool's own). Not with icmp, not for ping.",
    {"type": "string", "pattern": "^([1-9][0-9]{0,4})?$"},
)
COUNT = Param(
    "count",
    "How many probes (ping) or cycles (mtr), from 1 to the server's maximum; count times the interval must "
    "fit in the time a run may last. Not for traceroute.",
    {"type": "string", "pattern": "^([1-9][0-9]{0,3})?$"},
)
CONTINUOUS = Param(
    "continuous",
    "true: run until stopped (the stream closed), the visitor's budget cannot pay the next WEBTRACE_TIMEOUT "
    "seconds begun (one run each; the end says limit), or WEBTRACE_CONTINUOUS_MAX seconds. ping and mtr only; "
    "not with count. false or empty: an ordinary run.",
    {"type": "string", "enum": ["", "true", "false", "1", "0"]},
)

NODES = Param(
    "nodes",
    "Run from these vantage points (GET /api/v1/nodes lists them): names separated by ',', or all. "
    "Absent: this server alone. Each node's run counts against the visitor's budget here.",
    {"type": "string", "pattern": "^[A-Za-z0-9._,-]{0,300}$"},
)

# The page never refuses: what it does not know, it leaves at its default.
PAGE_TOOL = Param("tool", "The tool to select, and run at once when a target is given.")
PAGE_ACTION = Param("action", "The original webtrace's name for tool (mtr, trace or ping).")
PAGE_TARGET = Param("target", "The target to fill in; with it, the page runs the tool as it opens (a permalink).")
PAGE_FAMILY = Param("family", "The address family to select (auto, 4 or 6).")
PAGE_AFTYPE = Param("aftype", "The original webtrace's address family (ipv4 or ipv6).")
EMBED = Param("embed", "1: show only the form and the output, for a frame on another site.")
PAGE_PROTOCOL = Param("protocol", "The protocol to run with (passed on to the run).")
PAGE_PORT = Param("port", "The port to run to (passed on to the run).")
PAGE_COUNT = Param("count", "The count to run with (passed on to the run).")
PAGE_CONTINUOUS = Param("continuous", "true: tick Continuous (passed on to the run).")

# The result routes'.
FORMAT = Param("format", "json (the default): webtrace's own; text: as its text route printed it; atlas: the "
                         "RIPE Atlas result format; mtr-json: the shape of mtr --json's report; csv: a row per hop "
                         "or per reply. A format that does not fit the result's tool: 400, naming those that do.",
               {"type": "string", "enum": [*OWN_FORMATS, *EXPORT_NAMES]})
LAST_EVENT_ID = Param("last_event_id", "Resume after this event (as the Last-Event-ID header does).",
                      {"type": "string", "pattern": "^[0-9]{1,9}$"})
