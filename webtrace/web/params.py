"""The query parameters of the routes, as data: the views read them through these
definitions, and the API's description (``webtrace.web.openapi``) lists them
from the same ones, so the two cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..jobs import choose_options, find_tool
from ..net.targets import AFTYPES, Family, parse_aftype, parse_family, parse_target
from ..refusals import BadRequest
from ..tools import PROTOCOLS, Options, ToolSpec
from .keys import NODES as NODE_LIST
from .keys import PLATFORM, SETTINGS, TOOLS


@dataclass(frozen=True, slots=True)
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

# Which route reads which parameters, by route name.
ROUTE_PARAMS: dict[str, tuple[Param, ...]] = {
    "index": (PAGE_TOOL, PAGE_ACTION, PAGE_TARGET, PAGE_FAMILY, PAGE_AFTYPE, PAGE_PROTOCOL, PAGE_PORT, PAGE_COUNT,
              EMBED),
    "api_run": (TARGET, FAMILY, PROTOCOL, PORT, COUNT, NODES),
    "api_check": (TARGET, FAMILY, PROTOCOL, PORT, COUNT, NODES),
    "text_run": (TARGET, AFTYPE, FAMILY, PROTOCOL, PORT, COUNT, NODES),
}


@dataclass(frozen=True, slots=True)
class RunQuery:
    """What a run route was asked for, each part checked as far as it can be
    without resolving: the target is still text."""

    spec: ToolSpec
    family: Family
    options: Options
    target: str
    nodes: tuple[str, ...] | None = None  # None: this server alone, as without vantage points


def read_run(request: web.Request) -> RunQuery:
    """A run route's query, in the order its refusals are given; raises a Refusal."""
    spec = _run_tool(request)
    return RunQuery(spec, _read_family(request), _read_options(request, spec), _read_target(request),
                    read_nodes(request))


def read_nodes(request: web.Request) -> tuple[str, ...] | None:
    """The vantage points asked for, by name, in the server's order; None if not asked."""
    text = NODES.read(request)
    if text is None or not text.strip():
        return None
    known = [node.name for node in request.app[NODE_LIST].all()]
    asked = {name.strip().lower() for name in text.split(",") if name.strip()}
    if "all" in asked:
        return tuple(known)
    unknown = sorted(asked - set(known))
    if unknown:
        raise BadRequest(f"there is no node called {unknown[0]!r} here; nodes are: {', '.join(known)}")
    return tuple(name for name in known if name in asked)


def check_well_formed(request: web.Request) -> None:
    """Refuse a run request that is malformed (unknown tool, bad family or options,
    no or bad target), as the run itself would, without resolving or running anything."""
    parse_target(read_run(request).target)


def _read_options(request: web.Request, spec: ToolSpec) -> Options:
    """The run's protocol, port and count as asked for, checked; raises BadRequest."""
    return choose_options(
        spec, request.app[PLATFORM], request.app[SETTINGS],
        protocol=PROTOCOL.read(request), port=PORT.read(request), count=COUNT.read(request),
    )


def _run_tool(request: web.Request) -> ToolSpec:
    """The tool a run route names: by its API name, or by its text route."""
    tools = request.app[TOOLS]
    if "tool" in request.match_info:
        return find_tool(tools, request.match_info["tool"])
    route = request.match_info["route"]
    return next(spec for spec in tools.values() if spec.text_route == route)


def _read_family(request: web.Request) -> Family:
    family = parse_family(FAMILY.read(request))
    if request.match_info.route.name != "text_run":
        return family
    # The text routes take the original's aftype, and family as the API does.
    aftype = parse_aftype(AFTYPE.read(request))
    if Family.AUTO not in (family, aftype) and family != aftype:
        raise BadRequest(f"family={family.value} and aftype={AFTYPE.read(request)} disagree: give one of them")
    return aftype if family == Family.AUTO else family


def _read_target(request: web.Request) -> str:
    target = TARGET.read(request)
    if target is None or not target.strip():
        raise BadRequest("No target specified")
    return target
