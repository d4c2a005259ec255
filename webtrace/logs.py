"""Logging set-up and the access log: one line per request with the real client.

The access log line names the client as the forwarded middleware saw it (not
the proxy), and for runs the tool, the target and how the run ended.
Refusals of a client already refused are counted and written once a second
(``RefusalSummary``).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import sys
import time as _time
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from . import keys

ACCESS_LOGGER = "webtrace.access"
# The status logged for a client that left before any response was sent
# (nginx's word for it: "client closed request").
CLIENT_CLOSED = 499


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes records to a block-buffered copy of stderr, flushed at most every ``FLUSH_S``.

    The access log has a line per request; a write system call for each one
    would cost more than refusing a flood's request does.
    """

    FLUSH_S = 0.2

    def __init__(self) -> None:
        raw = io.FileIO(os.dup(sys.stderr.fileno()), "w")
        super().__init__(io.TextIOWrapper(io.BufferedWriter(raw, 1 << 16), encoding="utf-8"))
        self._scheduled = False

    def write_line(self, line: str) -> None:
        """Write a finished line, bypassing LogRecord and Formatter (the access log's path)."""
        self.stream.write(line)
        self.flush()

    def flush(self) -> None:
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush_now()
            return
        self._scheduled = True
        loop.call_later(self.FLUSH_S, self.flush_now)

    def flush_now(self) -> None:
        self._scheduled = False
        super().flush()

    def close(self) -> None:
        self.flush_now()
        super().close()


def configure_logging(level: str, fmt: str) -> None:
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    access = logging.getLogger(ACCESS_LOGGER)
    batched = BatchedStreamHandler()
    batched.setFormatter(formatter)
    access.handlers[:] = [batched]
    access.propagate = False


def access_fields(request: web.BaseRequest, response: web.StreamResponse, took: float) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "client": request.get(keys.CLIENT_IP, request.remote),
        "method": request.method,
        "path": request.path,
        "status": response.status,
        "duration_s": round(took, 3),
    }
    if keys.RUN_TOOL in request:
        fields["tool"] = request[keys.RUN_TOOL]
        fields["target"] = request.get(keys.RUN_TARGET)
    run = request.get(keys.RUN)
    outcome = None if run is None else run.outcome
    if outcome is not None:
        fields["run"] = outcome.status
        fields["exit_code"] = outcome.exit_code
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
        if keys.SUMMARISED in request or not self.logger.isEnabledFor(logging.INFO):
            return
        fields = access_fields(request, response, time)
        if self._direct is None:
            log_fields(self.logger, fields)
        elif self._json:
            entry = {"time": _utc(_time.time()), "level": "INFO", "logger": self.logger.name,
                     "message": _access_text(fields), **fields}
            self._direct.write_line(json.dumps(entry, ensure_ascii=False) + "\n")
        else:
            self._direct.write_line(f"{self._now()} INFO {self.logger.name}: {_access_text(fields)}\n")

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
            run = request.get(keys.RUN)
            if run is not None and run.outcome is None and run.reaped is not None:
                # Cancelled again while its group was being reaped: the line waits
                # for the outcome, which the reaper settles shortly.
                run.reaped.add_done_callback(lambda _: request.protocol.log_access(request, response, started))
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


def log_fields(logger: logging.Logger, fields: dict[str, Any]) -> None:
    """An access-log line through ``logging``: the formatter writes the fields as text or JSON."""
    logger.info(_access_text(fields), extra={"fields": fields})


_QUOTED = frozenset({"target", "path"})
# A value made only of these needs no quotes: it cannot add a field or a line.
_BARE = re.compile(r"[\w.:/\[\]-]+", re.ASCII)


def _access_text(fields: dict[str, Any]) -> str:
    # repr() keeps a hostile value on one line and visibly quoted, so that no
    # value (a target, a path, whatever a proxy forwarded) can add a field.
    return " ".join([f"{k}={v!r}" if k in _QUOTED or not _bare(v) else f"{k}={v}" for k, v in fields.items()])


def _bare(value: Any) -> bool:
    return not isinstance(value, str) or _BARE.fullmatch(value) is not None


def _utc(timestamp: float) -> str:
    """ISO 8601 in UTC with milliseconds, as both JSON log paths write it."""
    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(timestamp)) + f".{int(timestamp % 1 * 1000):03d}Z"
