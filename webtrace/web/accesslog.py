"""The access log: one line per request, with the real client and how its run ended.

The line names the client as the forwarded middleware saw it (not the proxy),
and for runs the tool, the target and how the run ended. A client that leaves
still gets its line (``setup_departures``). Refusals of a client already
refused are counted and written once a second (``RefusalSummary``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time as _time
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from ..logs import BatchedStreamHandler, JsonFormatter, access_text, log_fields, utc
from .forwarded import CLIENT_IP
from .keys import RUN_QUERY, SOURCE
from .route import route_of
# Set on a refusal that the access log counts in a summary instead of a line of its own.
SUMMARISED: web.RequestKey[bool] = web.RequestKey("summarised")
# The status logged for a client that left before any response was sent
# (nginx's word for it: "client closed request").
CLIENT_CLOSED = 499


def access_fields(request: web.BaseRequest, response: web.StreamResponse, took: float) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "client": request.get(CLIENT_IP, request.remote),
        "method": request.method,
        "path": request.path,
        "status": response.status,
        "duration_s": round(took, 3),
    }
    query = request.get(RUN_QUERY)  # read by a run route (its record says so), whatever became of it
    route = route_of(request) if query is not None and isinstance(request, web.Request) else None
    if query is not None and route is not None and route.runs:
        fields["tool"] = query.spec.name
        fields["target"] = query.target
    source = request.get(SOURCE)
    ended = None if source is None else source.ended()
    if source is not None and ended is not None:
        fields["run"] = ended[0]
        if source.final == "end":  # a tool that ran here; a run from several has no one exit code
            fields["exit_code"] = ended[1]
    return fields


class AccessLogger(AbstractAccessLogger):
    """One line per request. It writes to the batched handler directly when that is
    where the access log goes (as configured by ``configure_logging``): building a
    LogRecord for each request would double the cost of refusing a flood."""

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logger, log_format)
        handlers = [h for h in logger.handlers if isinstance(h, BatchedStreamHandler)]
        self._direct = handlers[0] if len(logger.handlers) == 1 and handlers else None
        self._json = self._direct is not None and isinstance(self._direct.formatter, JsonFormatter)
        self._second = -1
        self._stamp = ""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if SUMMARISED in request or not self.logger.isEnabledFor(logging.INFO):
            return
        fields = access_fields(request, response, time)
        if self._direct is None:
            log_fields(self.logger, fields)
        elif self._json:
            entry = {"time": utc(_time.time()), "level": "INFO", "logger": self.logger.name,
                     "message": access_text(fields), **fields}
            self._direct.write_line(json.dumps(entry, ensure_ascii=False) + "\n")
        else:
            self._direct.write_line(f"{self._now()} INFO {self.logger.name}: {access_text(fields)}\n")

    def _now(self) -> str:
        now = _time.time()
        second = int(now)
        if second != self._second:  # strftime once a second, not once a request
            self._second = second
            self._stamp = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(second))
        return f"{self._stamp},{int(now % 1 * 1000):03d}"


def setup_departures(app: web.Application) -> None:
    """A client that leaves still gets its access-log line, with how its run ended.

    aiohttp writes the line when a handler returns; a handler cancelled because
    its client left (``handler_cancellation``) never returns, so it is written
    here. A connection reset while the response is being prepared is a client
    leaving too: handed back to aiohttp as a response, it is logged once,
    instead of as a 500 with an ERROR traceback. Outermost, so that it sees
    every request the other middlewares and the views handle.
    """

    @web.middleware
    async def departures_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = asyncio.get_running_loop().time()
        try:
            return await handler(request)
        except asyncio.CancelledError:
            response = _departed(request)
            source = request.get(SOURCE)
            reaping = None if source is None else source.reaping()
            if reaping is not None:
                # Cancelled again while its group was being reaped: the line waits
                # for the outcome, which the reaper settles shortly.
                reaping.add_done_callback(lambda _: request.protocol.log_access(request, response, started))
            else:
                request.protocol.log_access(request, response, started)
            raise
        except ConnectionError:
            return _departed(request)

    app.middlewares.insert(0, departures_middleware)


def _departed(request: web.BaseRequest) -> web.StreamResponse:
    """What the departed client was answered, for the access log."""
    sent = request.writer.output_size > 0  # the headers went out: a stream had begun
    return web.StreamResponse(status=200 if sent else CLIENT_CLOSED)


class RefusalSummary:
    """Refusals of clients already refused, in the access log as one line per client a second.

    A flood is thousands of requests a second from one client, each refused
    without a run. A line for each would cost more than refusing it does, and
    journald drops a service's lines beyond its rate limit (10 000 in 30 s by
    default), other visitors' lines with them.
    """

    EVERY_S = 1.0

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._counts: dict[str, list[float]] = {}  # client -> [refusals, since (loop time)]

    def add(self, client: str) -> None:
        counted = self._counts.get(client)
        if counted is None:
            loop = asyncio.get_running_loop()
            self._counts[client] = [1, loop.time()]
            loop.call_later(self.EVERY_S, self._write, client)
        else:
            counted[0] += 1

    def flush(self) -> None:
        """Write what is counted now (at shutdown)."""
        for client in list(self._counts):
            self._write(client)

    def _write(self, client: str) -> None:
        counted = self._counts.pop(client, None)
        if counted is not None:
            count, since = counted
            took = asyncio.get_running_loop().time() - since
            fields = {"client": client, "status": 429, "refused": int(count), "within_s": round(took, 3)}
            log_fields(self.logger, fields)
