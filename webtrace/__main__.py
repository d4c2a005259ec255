"""``webtrace`` / ``python -m webtrace``: read the settings and serve."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import resource
import socket
import sys

from aiohttp import web

from .app import create_app
from .logs import ACCESS_LOGGER, configure_logging
from .settings import Settings, SettingsError
from .web.accesslog import AccessLogger
from .web.serving import serve

log = logging.getLogger("webtrace")

# Descriptors one run can hold: the client socket, the tool's output pipe, and
# the pidfd or child watcher; mtr holds a few of its own but in its process.
FDS_PER_RUN = 3
FDS_SPARE = 64
SD_LISTEN_FDS_START = 3
LISTEN_BACKLOG = 4096
# New objects between collections of the youngest generation (CPython's default: 700).
GC_YOUNG = 7000


DESCRIPTION = """webtrace: a looking glass. Serves a page and an API that run ping, traceroute,
mtr and tracepath from this server towards a target a visitor types, streaming
their output live. Settings are read from WEBTRACE_* environment variables (see
the README); the options below say only where to listen."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="webtrace", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (8080)")
    parser.add_argument("--unix-socket", metavar="PATH", help="listen on a unix socket instead")
    return parser.parse_args(argv)


def raise_open_files_limit(max_jobs: int) -> None:
    """Use as many descriptors as the hard limit allows; warn if still too few."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    needed = max_jobs * FDS_PER_RUN + FDS_SPARE
    if soft < needed:
        log.warning(
            "open-files limit is %d, but WEBTRACE_MAX_JOBS=%d needs about %d; "
            "raise LimitNOFILE (systemd) or ulimit -n",
            soft,
            max_jobs,
            needed,
        )


def inherited_socket() -> socket.socket | None:
    """The listening socket systemd passed (socket activation), if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    if int(os.environ.get("LISTEN_FDS", "0")) < 1:
        return None
    return socket.socket(fileno=SD_LISTEN_FDS_START)


async def freeze_startup_heap(app: web.Application) -> None:
    """Leave what start-up built (modules, the app, its templates: about 48 000
    objects) out of every later garbage collection. It lives as long as the
    server, yet each full collection walked all of it, pausing the loop and
    every stream for 13-29 ms (measured with 500 visitors over 10 s). Start-up's
    own garbage is collected first, so that freezing keeps none of it.

    The youngest generation is collected every ``GC_YOUNG`` new objects rather
    than 700: a busy stream makes a few dicts an event (and keeps them in its
    result), so at 700 the collector ran hundreds of times a second, each time
    walking what the runs had made since. Measured with 500 visitors over 10 s
    and results on: a third less CPU a line (benchmarks/README.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])


def event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (everywhere but Windows): a streamed line costs
    the server about an eighth less CPU. Tools are started by the spawn helper,
    not by the loop, so uvloop's slower fork-based subprocesses only start the
    helper itself."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"webtrace: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    raise_open_files_limit(settings.max_jobs)
    try:
        app = create_app(settings)
    except (FileNotFoundError, SettingsError) as exc:
        print(f"webtrace: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    app.on_startup.append(freeze_startup_heap)  # last: after the spawn helper and the rest
    listen: dict[str, str | int | socket.socket]
    sock = inherited_socket()
    if sock is not None:
        listen = {"sock": sock}
    elif args.unix_socket:
        listen = {"path": args.unix_socket}
    else:
        listen = {"host": args.host, "port": args.port}
    serve(
        app,
        event_loop(),
        listen=listen,
        handler_cancellation=True,
        # aiohttp runs one clock from the moment a connection opens, or its last
        # response ends, until a complete request head has arrived: it is the
        # header-read timeout and the keep-alive timeout alike, so a client
        # holding connections idle or half-sent cannot keep them for long.
        keepalive_timeout=settings.idle_timeout,
        shutdown_timeout=5.0,
        # A crowd arriving at once must not find the accept queue full (aiohttp's
        # default is 128; a full unix-socket queue refuses connections outright).
        backlog=LISTEN_BACKLOG,
        access_log_class=AccessLogger,
        access_log=logging.getLogger(ACCESS_LOGGER),
        say=log.info,
    )


if __name__ == "__main__":
    main()
