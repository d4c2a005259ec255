"""Refusals turned into responses, in one place: JSON on the API, an ``ERROR:`` line
on the text routes; each counted in the metrics by its code.

Any :class:`~webtrace.refusals.Refusal` raised below this middleware (by the rate
limit, a view, or anything a view calls) ends here. Nothing is running yet when
one is raised, so nothing needs undoing.
"""

from __future__ import annotations

import orjson
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from ..refusals import Refusal
from .metrics import METRICS

# The routes whose refusals are plain text, as the original webtrace wrote them.
TEXT_ROUTES = frozenset({"text_run"})


def refusal_response(request: web.Request, refusal: Refusal) -> web.Response:
    headers = dict(refusal.headers)
    if refusal.retry_after_s is not None:
        headers[hdrs.RETRY_AFTER] = str(refusal.retry_after_s)
    if request.match_info.route.name in TEXT_ROUTES:
        return web.Response(text=f"ERROR: {refusal.message}\n", status=refusal.status, headers=headers)
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
