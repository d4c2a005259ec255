"""Serving the application: aiohttp's runner, with connections that answer what
they cannot parse as the rest of webtrace answers.

aiohttp writes the answer to a request it cannot parse (a malformed request
line, a header over 8190 bytes, a NUL in the path) before any application code
sees it, with its own ``Server`` header naming the Python and aiohttp versions,
the parser's own words quoting the request back, and a traceback at ERROR in
the log for each. Here such an answer is a short sentence with webtrace's
headers, logged at DEBUG: a stranger can send them as fast as they like.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Mapping
from contextlib import suppress
from http import HTTPStatus
from typing import Any

from aiohttp import hdrs, web
from aiohttp.web_request import BaseRequest

log = logging.getLogger(__name__)

# What every answer of aiohttp's own says of the server (the app's answers get theirs from ``headers``).
ERROR_HEADERS: Mapping[str, str] = {hdrs.SERVER: "webtrace", hdrs.X_CONTENT_TYPE_OPTIONS: "nosniff"}


class RequestHandler(web.RequestHandler):
    __slots__ = ()

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:  # a bug, or a handler that timed out: worth its traceback
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
        else:
            log.debug("could not parse a request from %s: %s", request.remote, exc)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had begun; the connection is closed instead")
        resp = web.Response(status=status, text=f"{status} {_phrase(status)}\n", headers=ERROR_HEADERS)
        resp.force_close()
        return resp


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Server(web.Server):
    def __call__(self) -> RequestHandler:
        # aiohttp makes its own handler class here, with the same arguments.
        return RequestHandler(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        return Server(made.request_handler, request_factory=made.request_factory,
                      handler_cancellation=made.handler_cancellation, loop=asyncio.get_running_loop(),
                      **made._kwargs)


async def _serve(app: web.Application, listen: Mapping[str, Any], backlog: int, say: Callable[[str], None],
                 runner_args: Mapping[str, Any]) -> None:
    runner = Runner(app, handle_signals=True, **runner_args)
    await runner.setup()
    try:
        site: web.BaseSite
        if "sock" in listen:
            site = web.SockSite(runner, listen["sock"], backlog=backlog)
        elif "path" in listen:
            site = web.UnixSite(runner, listen["path"], backlog=backlog)
        else:
            site = web.TCPSite(runner, listen["host"], listen["port"], backlog=backlog)
        await site.start()
        say(f"======== Running on {site.name} ========")
        await asyncio.Event().wait()  # until SIGINT or SIGTERM
    finally:
        await runner.cleanup()


def serve(app: web.Application, loop: asyncio.AbstractEventLoop, *, listen: Mapping[str, str | int | socket.socket],
          backlog: int, say: Callable[[str], None], **runner_args: Any) -> None:
    """Serve ``app`` on ``listen`` (``host`` and ``port``, ``path`` or ``sock``) until
    SIGINT or SIGTERM, then shut it down as ``web.run_app`` does."""
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(app, listen, backlog, say, runner_args))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        if not main.done():
            main.cancel()
            with suppress(asyncio.CancelledError):
                loop.run_until_complete(main)
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.gather(*asyncio.all_tasks(loop), return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
