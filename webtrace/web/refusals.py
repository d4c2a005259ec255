"""Refusals turned into responses, in one place, in the format the route's record
names: JSON on the API, an ``ERROR:`` line on the text routes, the page on the
page's routes; each counted in the metrics by its code.

Any :class:`~webtrace.refusals.Refusal` raised below this middleware (by the rate
limit, a view, or anything a view calls) ends here. Nothing is running yet when
one is raised, so nothing needs undoing.
"""

from __future__ import annotations

import aiohttp_jinja2
import orjson
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from ..refusals import Refusal
from .metrics import METRICS
from .page import page_context
from .route import route_of

# The page's heading for a refusal, by status.
_PAGE_TITLES = {404: "No such result", 429: "Not now", 503: "Not now"}


def refusal_response(request: web.Request, refusal: Refusal) -> web.Response:
    headers = dict(refusal.headers)
    if refusal.retry_after_s is not None:
        headers[hdrs.RETRY_AFTER] = str(refusal.retry_after_s)
    route = route_of(request)
    refuses = route.refuses if route is not None else "json"
    if refuses == "text":
        return web.Response(text=f"ERROR: {refusal.message}\n", status=refusal.status, headers=headers)
    if refuses == "page":
        # Relative links on a page below the root (r/ID) lead back up to it.
        root = "../" * (request.path.count("/") - 1)
        context = page_context(request, tool="", target="", family="auto", root=root)
        context["problem"] = {"title": _PAGE_TITLES.get(refusal.status, "Refused"), "message": refusal.message}
        response = aiohttp_jinja2.render_template("index.html", request, context, status=refusal.status)
        response.headers.update(headers)
        return response
    # orjson: a flood of refusals is answered here, and encoding was a fifth of it.
    body = orjson.dumps({"error": {"code": refusal.code, "message": refusal.message}})
    return web.Response(body=body, status=refusal.status, headers=headers, content_type="application/json")


def setup_refusals(app: web.Application) -> None:
    metrics = app[METRICS]

    @web.middleware
    async def refusals_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refusal as refusal:
            metrics.refused(refusal.code)
            return refusal_response(request, refusal)

    app.middlewares.append(refusals_middleware)
