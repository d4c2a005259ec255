"""A run route's query, read once per request (design §11): the rate limit reads
it first (it counts the nodes), keeps it on the request, and the view and the
access log take it from there. Nothing reads the query string after it.

The same path and query string always read the same (the tools, the nodes and the
limits are fixed while the server runs), so a query read is kept by them
(``QUERIES``) for the next request that asks the same: a crowd that arrives at once
mostly does, and reading one was about 7 % of a request's instructions up to its
headers. A refused query is not kept; it is refused again as it was.
"""

from __future__ import annotations

from aiohttp import web

from ..runs.query import RunQuery, run_query
from ..tools import find_tool
from .keys import HERE, NODES, RUN_QUERY, TOOLS
from .params import AFTYPE, CONTINUOUS, COUNT, FAMILY, NODES as NODES_PARAM, PORT, PROTOCOL, TARGET
from .route import route_of

# The most queries ``QUERIES`` keeps; the first kept goes first.
QUERIES_KEPT = 256
# Queries read, by their route's name and the request's path and query string as sent.
QUERIES: web.AppKey[dict[tuple[str, str], RunQuery]] = web.AppKey("queries")


def query_of(request: web.Request) -> RunQuery:
    """The request's run query, read the first time it is asked for; raises a Refusal."""
    query = request.get(RUN_QUERY)
    if query is not None:
        return query
    route = route_of(request)
    assert route is not None and route.tool is not None, "a run query is read on run routes only"
    kept = request.app[QUERIES]
    key = (route.name, request.raw_path)
    query = kept.get(key)
    if query is not None:
        request[RUN_QUERY] = query
        return query
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
    if len(kept) >= QUERIES_KEPT:
        del kept[next(iter(kept))]
    kept[key] = query
    return query
