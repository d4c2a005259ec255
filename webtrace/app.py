"""The application factory: one ``setup_*`` per concern, in the order data flows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterable

import aiohttp_jinja2
import jinja2
from aiohttp import web

from .hops import Directory
from .net.ipdb import IpDatabases, IpDbError
from .net.names import NameCache
from .net.policy import AddressPolicy
from .nodes.registry import Node, Nodes, part_deadline
from .net.targets import Resolver, system_resolver
from .process.descriptors import CHECK_EVERY_S, DescriptorWatch
from .process.groups import become_subreaper, use_pidfd_child_watcher
from .process.runner import ProcessRunner
from .process.spawner import Spawner
from .resources import find_dir
from .results.backends import open_store
from .results.recorder import Results
from .settings import Settings, SettingsError
from .runs.plan import Here
from .tools import TOOLS, Counting, RunLimits, ToolSpec, counted, tools_for
from .web.accesslog import setup_departures
from .web.forwarded import setup_forwarded
from .web.headers import setup_headers
from .web.keys import DIRECTORY, HERE, NODE, NODES, PLATFORM, POLICY, RESOLVER, RESULTS, RUNNER, SETTINGS
from .web.keys import TOOLS as TOOLS_KEY
from .web.metrics import METRICS, Metrics
from .web.openapi import setup_openapi
from .web.ratelimit import setup_ratelimit
from .web.refusals import setup_refusals
from .web.route import Route
from .web.routes import ROUTES, setup_routes
from .web.stalls import STALLS, StallWatch

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    resolver: Resolver | None = None,
    platform: str = sys.platform,
    tools: Iterable[ToolSpec] = TOOLS,
    routes: Iterable[Route] = ROUTES,
    sse_ping_interval: float = 10.0,
    send_timeout: float = 30.0,
) -> web.Application:
    """Build webtrace.

    ``resolver`` replaces the system resolver (tests, labs); ``tools`` the tool
    records offered; ``routes`` the table of routes. An SSE stream sends a
    comment every ``sse_ping_interval`` seconds while its tool is quiet; a client
    whose write has waited ``send_timeout`` seconds has stopped reading, and its
    run is ended.
    """
    app = web.Application()
    app[SETTINGS] = settings if settings is not None else Settings.from_env()
    setup_metrics(app)
    setup_runner(app)
    setup_descriptor_watch(app)
    setup_targets(app, resolver or system_resolver)
    setup_directory(app)
    setup_tools(app, platform, tools)
    setup_results(app)
    setup_nodes(app)
    setup_here(app)
    # Middleware order matters: departures first, to see every request end; the
    # client must be known before it is limited; refusals, raised by the limits
    # or the views, become responses around both.
    setup_departures(app)
    setup_forwarded(app)
    setup_refusals(app)
    setup_ratelimit(app)
    setup_headers(app)
    setup_templates(app)
    setup_streams(app, sse_ping_interval, send_timeout)
    setup_routes(app, routes)
    setup_openapi(app)  # last: it describes every route
    return app


def setup_metrics(app: web.Application) -> None:
    app[METRICS] = Metrics()


def setup_runner(app: web.Application) -> None:
    settings = app[SETTINGS]
    metrics = app[METRICS]
    spawner = Spawner() if Spawner.usable() else None
    runner = ProcessRunner(
        settings.max_jobs,
        on_start=lambda run: metrics.started(run.name),
        on_end=lambda run, outcome: metrics.ended(run.name, outcome),
        spawner=spawner,
    )
    app[RUNNER] = runner

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
        if spawner is not None:
            await spawner.close()
        if give_up_pidfds is not None:
            give_up_pidfds()

    async def stop_runs(app: web.Application) -> None:
        # on_shutdown runs before aiohttp waits for handlers, so each open
        # stream still gets to send its `end` event with status "shutdown".
        await runner.shutdown()

    app.cleanup_ctx.append(process_handling)
    app.on_shutdown.append(stop_runs)


def setup_descriptor_watch(app: web.Application) -> None:
    """A warning in the log before the server runs out of descriptors, which it
    would otherwise do without a word."""

    async def keep_counting(app: web.Application) -> AsyncIterator[None]:
        watch = DescriptorWatch()
        counter = asyncio.create_task(_count_every(watch, CHECK_EVERY_S))
        yield
        counter.cancel()
        await asyncio.wait([counter])
        watch.close()

    app.cleanup_ctx.append(keep_counting)


async def _count_every(watch: DescriptorWatch, interval: float) -> None:
    while True:
        watch.check()
        await asyncio.sleep(interval)


def setup_targets(app: web.Application, resolver: Resolver) -> None:
    settings = app[SETTINGS]
    app[POLICY] = AddressPolicy(allow=settings.allow_networks, deny=settings.deny_networks)
    app[RESOLVER] = resolver


# Seconds between checks whether an updater replaced a database file.
DATABASE_CHECK_INTERVAL = 5.0


def setup_directory(app: web.Application) -> None:
    """Names, AS and country for hop rows. A database the operator named that
    cannot be read stops start-up here (SettingsError names the setting)."""
    settings = app[SETTINGS]
    try:
        databases = IpDatabases(asn=settings.asn_db, geo=settings.geo_db)
    except IpDbError as exc:
        raise SettingsError(str(exc)) from None
    names = None
    if settings.names == "on":
        names = NameCache(timeout=settings.name_timeout, ttl=settings.name_ttl, concurrency=settings.name_lookups)
    directory = app[DIRECTORY] = Directory(names, databases)

    async def keep_fresh(app: web.Application) -> AsyncIterator[None]:
        watcher = None
        loop = asyncio.get_running_loop()
        if directory.databases is not None:
            dbs = directory.databases
            watcher = asyncio.create_task(_refresh_every(dbs, DATABASE_CHECK_INTERVAL))
            with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows; not the main thread
                loop.add_signal_handler(signal.SIGHUP, dbs.reopen)
        yield
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGHUP)
        directory.close()

    app.cleanup_ctx.append(keep_fresh)


async def _refresh_every(databases: IpDatabases, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        databases.refresh()


# Seconds between sweeps of expired results.
EXPIRY_INTERVAL = 600.0


def setup_results(app: web.Application) -> None:
    """Every accepted run a result (design §8), kept where WEBTRACE_RESULTS says."""
    settings = app[SETTINGS]
    app[NODE] = settings.node_name or socket.gethostname()
    store = open_store(settings.results, settings.results_ttl)
    results = app[RESULTS] = Results(store, max_bytes=settings.result_max_bytes, node=app[NODE],
                                     run_timeout=settings.timeout, continuous_max=settings.continuous_max)
    app[METRICS].watch_results(results)

    async def keep(app: web.Application) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_expire_every(results, EXPIRY_INTERVAL)) if store is not None else None
        yield
        if sweeper is not None:
            sweeper.cancel()
        await results.close()  # after the runs: their last events are written first

    app.cleanup_ctx.append(keep)


async def _expire_every(results: Results, interval: float) -> None:
    while True:
        await results.expire()
        await asyncio.sleep(interval)


def setup_nodes(app: web.Application) -> None:
    """This server and the other vantage points it lists, each checked now and then."""
    settings = app[SETTINGS]
    local = Node(app[NODE], None, info=settings.server_info, tools=list(app[TOOLS_KEY].keys()), up=True)
    nodes = app[NODES] = Nodes(local, settings.nodes, interval=settings.nodes_check_interval,
                               silence=settings.nodes_silence_timeout, max_parts=settings.max_jobs,
                               part_deadline=part_deadline(settings.timeout, settings.resolve_timeout,
                                                           settings.name_timeout),
                               continuous_deadline=part_deadline(settings.continuous_max, settings.resolve_timeout,
                                                                 settings.name_timeout))

    async def keep_checking(app: web.Application) -> AsyncIterator[None]:
        await nodes.start()
        checker = asyncio.create_task(nodes.keep_checking()) if nodes.others else None
        yield
        if checker is not None:
            checker.cancel()
            await asyncio.wait([checker])

    async def stop_parts(app: web.Application) -> None:
        # Before aiohttp waits for the handlers: each node's part of a run ends "shutdown".
        nodes.stop()

    app.cleanup_ctx.append(keep_checking)
    app.on_shutdown.append(stop_parts)


def setup_tools(app: web.Application, platform: str, tools: Iterable[ToolSpec]) -> None:
    """The tool records offered here, with the operator's counts and intervals."""
    counts = {name: Counting(*given) for name, given in app[SETTINGS].tool_counts().items()}
    app[PLATFORM] = platform
    app[TOOLS_KEY] = tools_for(platform, counted(tools, counts))


def setup_here(app: web.Application) -> None:
    """What every run is planned and started with."""
    settings = app[SETTINGS]
    app[HERE] = Here(policy=app[POLICY], resolver=app[RESOLVER], platform=app[PLATFORM],
                     limits=RunLimits(settings.max_count, settings.timeout, settings.continuous_max),
                     resolve_timeout=settings.resolve_timeout, max_hops=settings.max_hops, runner=app[RUNNER],
                     directory=app[DIRECTORY])


def setup_templates(app: web.Application) -> None:
    settings = app[SETTINGS]
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


def setup_streams(app: web.Application, sse_ping_interval: float, send_timeout: float) -> None:
    stalls = app[STALLS] = StallWatch(send_timeout, sse_ping_interval)

    async def stop_watching(app: web.Application) -> None:
        stalls.close()

    app.on_cleanup.append(stop_watching)
