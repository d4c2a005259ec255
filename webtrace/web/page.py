"""What the page's template is given: the form filled in, the tools as data for its
script, and for a result's page the result (or why there is none)."""

from __future__ import annotations

import ipaddress
from typing import Any

from aiohttp import web

from .forwarded import CLIENT_IP
from .keys import NODES, PLATFORM, SETTINGS, TOOLS
from .params import EMBED


def page_context(request: web.Request, *, tool: str, target: str, family: str, root: str = "",
                 result: dict[str, Any] | None = None, comparison: dict[str, Any] | None = None) -> dict[str, Any]:
    """``root``: the way back to the site's root, for a page below it (its relative links)."""
    settings = request.app[SETTINGS]
    tools = list(request.app[TOOLS].values())
    nodes = [node.as_json() for node in request.app[NODES].all()]
    platform = request.app[PLATFORM]
    return {
        "title": settings.title,
        "server_info": settings.server_info,
        "tools": tools,
        # What the page's script needs to know of the tools (and the result shown), as data.
        "config": {
            "tools": [page for spec in tools if (page := spec.page(platform)) is not None],
            "root": root,
            "result": result,
            "comparison": comparison,
            "nodes": nodes,
        },
        "max_count": settings.max_count,
        "continuous_max": _duration(settings.continuous_max),
        "tool": tool,
        "target": target,
        "family": family,
        "root": root,
        "result": result,
        "nodes": nodes,
        "embed": request.query.get(EMBED.name) == "1",
        "client_ip": _as_address(request.get(CLIENT_IP, "")),
    }


def _as_address(text: str) -> str | None:
    """The visitor's address for the page, or None (e.g. behind a unix socket with no proxy)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _duration(seconds: float) -> str:
    """``10 min``, ``90 s``: the most a continuous run may last, as the form's hint says it."""
    return f"{seconds / 60:g} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g} s"
