"""The application factory: one ``setup_*`` per concern."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator

import aiohttp_jinja2
import jinja2
from aiohttp import web

from . import keys, views
from .logs import setup_departures
from .metrics import Metrics
from .middleware.forwarded import setup_forwarded
from .middleware.headers import setup_headers
from .middleware.ratelimit import setup_ratelimit
from .policy import AddressPolicy
from .resources import find_dir
from .runner import ProcessRunner, become_subreaper, use_pidfd_child_watcher
from .settings import Settings
from .spawner import Spawner
from .stalls import StallWatch
from .targets import Resolver, system_resolver
from .tools import tools_for

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    resolver: Resolver | None = None,
    platform: str = sys.platform,
) -> web.Application:
    """Build webtrace; ``resolver`` replaces the system resolver (tests, labs)."""
    app = web.Application()
    app[keys.SETTINGS] = settings if settings is not None else Settings.from_env()
    setup_metrics(app)
    setup_runner(app)
    setup_targets(app, resolver or system_resolver)
    setup_tools(app, platform)
    # Middleware order matters: departures first, to see every request end;
    # the client must be known before it is limited.
    setup_departures(app)
    setup_forwarded(app)
    setup_ratelimit(app)
    setup_headers(app)
    setup_templates(app)
    setup_stalls(app)
    setup_routes(app)
    return app


def setup_metrics(app: web.Application) -> None:
    app[keys.METRICS] = Metrics()


def setup_runner(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    metrics = app[keys.METRICS]
    spawner = Spawner() if Spawner.usable() else None
    runner = ProcessRunner(
        settings.max_jobs,
        on_start=lambda run: metrics.started(run.name),
        on_end=lambda run, outcome: metrics.ended(run.name, outcome),
        spawner=spawner,
    )
    app[keys.RUNNER] = runner

    async def process_handling(app: web.Application) -> AsyncIterator[None]:
        give_up_pidfds = use_pidfd_child_watcher()
        become_subreaper()
        if spawner is not None:
            try:
                await spawner.start()
            except OSError as exc:
                # Slower under a crowd, but correct: start tools from the loop itself.
                log.warning("the spawn helper could not start (%s); tools start in-process", exc)
                runner.spawner = None
        yield
        if runner.spawner is not None:
            await runner.spawner.close()
        if give_up_pidfds is not None:
            give_up_pidfds()

    async def stop_runs(app: web.Application) -> None:
        # on_shutdown runs before aiohttp waits for handlers, so each open
        # stream still gets to send its `end` event with status "shutdown".
        await runner.shutdown()

    app.cleanup_ctx.append(process_handling)
    app.on_shutdown.append(stop_runs)


def setup_targets(app: web.Application, resolver: Resolver) -> None:
    settings = app[keys.SETTINGS]
    app[keys.POLICY] = AddressPolicy(allow=settings.allow_networks, deny=settings.deny_networks)
    app[keys.RESOLVER] = resolver


def setup_tools(app: web.Application, platform: str) -> None:
    app[keys.PLATFORM] = platform
    app[keys.TOOLS] = tools_for(platform)


def setup_templates(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    templates = find_dir("templates", settings.templates_dir)
    static = find_dir("static", settings.static_dir)
    app.router.add_static("/static/", static, name="static", append_version=True)

    def static_url(filename: str) -> str:
        # Relative, so the page works unchanged under a proxy's sub-path.
        return str(app.router["static"].url_for(filename=filename)).lstrip("/")

    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(templates)),
        autoescape=True,
        auto_reload=False,
    )
    env.globals["static_url"] = static_url


def setup_stalls(app: web.Application) -> None:
    stalls = app[keys.STALLS] = StallWatch(views.SEND_TIMEOUT)

    async def stop_watching(app: web.Application) -> None:
        stalls.close()

    app.on_cleanup.append(stop_watching)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", views.index, name="index")
    # No HEAD on run routes: aiohttp would run the handler and the tool, and its
    # output would follow a bodiless HEAD answer on a kept-alive connection,
    # where the client reads it as the next response. They answer 405.
    app.router.add_get("/api/v1/{tool}", views.api_run, name="api_run", allow_head=False)
    app.router.add_get("/api/v1/{tool}/check", views.api_check, name="api_check", allow_head=False)
    app.router.add_get("/{route:ping|trace|mtr}", views.text_run, name="text_run", allow_head=False)
    app.router.add_get("/healthz", views.healthz, name="healthz")
    app.router.add_get("/metrics", views.metrics_view, name="metrics")
