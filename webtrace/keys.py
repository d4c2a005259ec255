"""Every typed key stored on the application or a request, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .metrics import Metrics
    from .middleware.ratelimit import ClientLimiter
    from .policy import AddressPolicy
    from .runner import ProcessRunner, Run
    from .settings import Settings
    from .stalls import StallWatch
    from .targets import Resolver
    from .tools import ToolSpec

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
RUNNER: web.AppKey[ProcessRunner] = web.AppKey("runner")
POLICY: web.AppKey[AddressPolicy] = web.AppKey("policy")
RESOLVER: web.AppKey[Resolver] = web.AppKey("resolver")
TOOLS: web.AppKey[Mapping[str, ToolSpec]] = web.AppKey("tools")
PLATFORM: web.AppKey[str] = web.AppKey("platform")
LIMITER: web.AppKey[ClientLimiter] = web.AppKey("limiter")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
STALLS: web.AppKey[StallWatch] = web.AppKey("stalls")

# Per request. The client's address as the forwarded middleware determined it,
# read by the limits, the views and the access log.
CLIENT_IP: web.RequestKey[str] = web.RequestKey("client_ip")
# What the run did, for the access log.
RUN_TOOL: web.RequestKey[str] = web.RequestKey("run_tool")
RUN_TARGET: web.RequestKey[str] = web.RequestKey("run_target")
RUN: web.RequestKey[Run] = web.RequestKey("run")
# Set on a refusal that the access log counts in a summary instead of a line of its own.
SUMMARISED: web.RequestKey[bool] = web.RequestKey("summarised")
# RateLimit-* headers for an accepted run, set by the rate-limit middleware.
RATE_HEADERS: web.RequestKey[dict[str, str]] = web.RequestKey("rate_headers")
