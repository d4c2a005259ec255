"""A route as a record: what the rate limit, the refusals, the access log and the
API's description read of it (design §11). The table itself is ``routes``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from aiohttp import web
from aiohttp.typedefs import Handler

from .params import Param

if TYPE_CHECKING:
    from ..settings import Settings
    from ..tools import ToolSpec

# What a request to the route spends: a run (or one per node), a check, a read of
# results, or nothing. Every route says which; none is free by omission.
Budget = Literal["run", "check", "results", "none"]
BUDGETS: tuple[str, ...] = get_args(Budget)
# How it refuses: JSON (the API), an ``ERROR:`` line (the text routes), the page.
Refuses = Literal["json", "text", "page"]
# How a run route names its tool: by the ``{tool}`` in its path, or by its text route.
ToolIn = Literal["path", "text_route"]
# The route's entries in the API document: (path, operation) pairs.
Operations = Iterator[tuple[str, dict[str, Any]]]


class Describe(Protocol):
    def __call__(self, route: Route, tools: list[ToolSpec], settings: Settings) -> Operations: ...


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    # The path as the router takes it; "{text_route}" stands for the text routes of the tools offered.
    path: str
    handler: Handler | None  # None: the static files
    budget: Budget | None  # None: not stated, which stops start-up
    refuses: Refuses
    summary: str
    description: str = ""
    params: tuple[Param, ...] = ()
    method: str = "GET"
    allow_head: bool = True
    tool: ToolIn | None = None  # a run route: where its tool is named
    describe: Describe | None = None  # its own entry in the API document; None: made from the fields above

    @property
    def runs(self) -> bool:
        return self.tool is not None


ROUTE: web.AppKey[Mapping[str, Route]] = web.AppKey("routes")


def route_of(request: web.Request) -> Route | None:
    """The record of the route the request matched (None: no route matched)."""
    name = request.match_info.route.name
    return request.app[ROUTE].get(name) if name is not None else None
