"""A run route's query, read once per request (design §11): the rate limit reads
it first (it counts the nodes), keeps it on the request, and the view and the
access log take it from there. Nothing reads the query string after it."""

from __future__ import annotations

from aiohttp import web

from ..runs.query import RunQuery, run_query
from ..tools import find_tool
from .keys import HERE, NODES, RUN_QUERY, TOOLS
from .params import AFTYPE, CONTINUOUS, COUNT, FAMILY, NODES as NODES_PARAM, PORT, PROTOCOL, TARGET
from .route import route_of


def query_of(request: web.Request) -> RunQuery:
    """The request's run query, read the first time it is asked for; raises a Refusal."""
    query = request.get(RUN_QUERY)
    if query is not None:
        return query
    route = route_of(request)
    assert route is not None and route.tool is not None, "a run query is read on run routes only"
    tools = request.app[TOOLS]
    if route.tool == "path":
        spec = find_tool(tools, request.match_info["tool"])
    else:
        spec = next(spec for spec in tools.values() if spec.text_route == request.match_info["route"])
    here = request.app[HERE]
    # Read in the order the refusals are given: a repeated parameter is refused where it is read.
    query = request[RUN_QUERY] = run_query(
        spec, platform=here.platform, limits=here.limits,
        known_nodes=[node.name for node in request.app[NODES].all()],
        family=FAMILY.read(request),
        aftype=AFTYPE.read(request) if AFTYPE in route.params else None,
        protocol=PROTOCOL.read(request), port=PORT.read(request), count=COUNT.read(request),
        target=TARGET.read(request), nodes=NODES_PARAM.read(request), continuous=CONTINUOUS.read(request))
    return query
