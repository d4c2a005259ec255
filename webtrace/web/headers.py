"""Security and caching headers on every response, streams included.

Set in ``on_response_prepare`` rather than in a middleware because streamed
responses send their headers before a middleware would see them.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from .keys import SETTINGS

STATIC_PREFIX = "/static/"


def content_security_policy(embed_origins: tuple[str, ...]) -> str:
    ancestors = " ".join(embed_origins) if embed_origins else "'none'"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


def setup_headers(app: web.Application) -> None:
    embed_origins = app[SETTINGS].embed_origins
    fixed = {
        hdrs.CONTENT_SECURITY_POLICY: content_security_policy(embed_origins),
        hdrs.X_CONTENT_TYPE_OPTIONS: "nosniff",
        hdrs.REFERRER_POLICY: "strict-origin-when-cross-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        # Not aiohttp's default, which names the Python and aiohttp versions to every stranger.
        hdrs.SERVER: "webtrace",
    }
    if not embed_origins:
        fixed[hdrs.X_FRAME_OPTIONS] = "DENY"

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(fixed)
        if request.path.startswith(STATIC_PREFIX):
            # Versioned URLs (?v=<hash>) never change; anything else is revalidated.
            immutable = "v" in request.query and response.status == 200
            response.headers[hdrs.CACHE_CONTROL] = (
                "public, max-age=31536000, immutable" if immutable else "public, no-cache"
            )

    app.on_response_prepare.append(add_headers)
