"""The query parameters of the routes, as data: the views read them through these
definitions, and the API's description (``webtrace.web.openapi``) lists them
from the same ones, so the two cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..jobs import find_tool
from ..net.targets import AFTYPES, Family, parse_aftype, parse_family, parse_target
from ..refusals import BadRequest
from .keys import TOOLS


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
# The page never refuses: what it does not know, it leaves at its default.
PAGE_TOOL = Param("tool", "The tool to select, and run at once when a target is given.")
PAGE_ACTION = Param("action", "The original webtrace's name for tool (mtr, trace or ping).")
PAGE_TARGET = Param("target", "The target to fill in; with it, the page runs the tool as it opens (a permalink).")
PAGE_FAMILY = Param("family", "The address family to select (auto, 4 or 6).")
PAGE_AFTYPE = Param("aftype", "The original webtrace's address family (ipv4 or ipv6).")
EMBED = Param("embed", "1: show only the form and the output, for a frame on another site.")

# Which route reads which parameters, by route name.
ROUTE_PARAMS: dict[str, tuple[Param, ...]] = {
    "index": (PAGE_TOOL, PAGE_ACTION, PAGE_TARGET, PAGE_FAMILY, PAGE_AFTYPE, EMBED),
    "api_run": (TARGET, FAMILY),
    "api_check": (TARGET, FAMILY),
    "text_run": (TARGET, AFTYPE),
}


def check_well_formed(request: web.Request) -> None:
    """Refuse a run request that is malformed (unknown tool, bad family, no or bad
    target), as the run itself would, without resolving or running anything."""
    if "tool" in request.match_info:
        find_tool(request.app[TOOLS], request.match_info["tool"])
    route = request.match_info.route.name
    if route == "text_run":
        parse_aftype(AFTYPE.read(request))
    else:
        parse_family(FAMILY.read(request))
    target = TARGET.read(request)
    if target is None or not target.strip():
        raise BadRequest("No target specified")
    parse_target(target)
