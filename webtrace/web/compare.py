"""The comparison routes: two kept results of one tool laid against each other,
as JSON (``/api/v1/compare/{a}/{b}``) and as a page (``/compare/{a}/{b}``).

Reading spends the results budget (their records in ``routes`` say so); the
comparison itself is ``formats.comparison``'s, pure.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
import orjson
from aiohttp import web

from ..formats.comparison import NotComparable, compare
from ..refusals import BadRequest
from ..results.records import Result, is_result_id
from ..results.recorder import ResultNotFound
from .keys import RESULTS, TOOLS
from .page import page_context


async def comparison_json(request: web.Request) -> web.Response:
    """``GET /api/v1/compare/{a}/{b}``: the verdict first, then place by place, hop by hop."""
    return web.Response(body=orjson.dumps(await _comparison(request)), content_type="application/json")


async def comparison_page(request: web.Request) -> web.StreamResponse:
    """``GET /compare/{a}/{b}``: the comparison as the page shows it (live while ``b`` runs)."""
    found = await _comparison(request)
    return aiohttp_jinja2.render_template("index.html", request, page_context(
        request, tool=str(found["tool"]), target=str(found["b"]["target"] or ""), family="auto", root="../../",
        comparison=found))


async def _comparison(request: web.Request) -> dict[str, Any]:
    a, b = await _read(request, "a"), await _read(request, "b")
    spec = request.app[TOOLS].get(str(a.meta.get("tool")))
    # A tool no longer offered here: its events say whether it had a hop table.
    hops = spec.view == "hops" if spec is not None else any(kind == "hop" for _, kind, _ in a.events)
    try:
        found = compare(a, b, hops=hops)
    except NotComparable as refused:
        raise BadRequest(str(refused)) from None
    return {**found, "running": _running(a) or _running(b)}


def _running(result: Result) -> bool:
    """Whether its run may still add to it: the comparison is worth asking for again."""
    return result.status is None and not result.incomplete


async def _read(request: web.Request, which: str) -> Result:
    result_id = request.match_info[which]
    if not is_result_id(result_id):
        raise ResultNotFound(f"{result_id[:40]!r} is not a result's id")
    results = request.app[RESULTS]
    try:
        return await results.read(result_id)
    except ResultNotFound:
        if results.store is None:  # results are not kept here: that sentence says so
            raise
        # Of two, say which.
        raise ResultNotFound(f"there is no result {result_id} here: it may have expired, or the link is wrong") \
            from None
