"""Logging set-up, and how an access-log line is written (text or JSON).

Which requests get a line, and with what, is the web room's business
(``webtrace.web.accesslog``).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import string
import sys
import time as _time
from typing import Any

ACCESS_LOGGER = "webtrace.access"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": utc(record.created),
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


def log_fields(logger: logging.Logger, fields: dict[str, Any]) -> None:
    """An access-log line through ``logging``: the formatter writes the fields as text or JSON."""
    logger.info(access_text(fields), extra={"fields": fields})


_QUOTED = frozenset({"target", "path"})
# A value made only of these needs no quotes: it cannot add a field or a line.
_BARE = string.ascii_letters + string.digits + "_.:/[]-"


def access_text(fields: dict[str, Any]) -> str:
    # repr() keeps a hostile value on one line and visibly quoted, so that no
    # value (a target, a path, whatever a proxy forwarded) can add a field.
    # (A str is bare when stripping the bare characters leaves nothing: a line a
    # request, so this is a test in C rather than a regular expression and a call.)
    return " ".join([f"{k}={v!r}" if k in _QUOTED or (isinstance(v, str) and (not v or v.strip(_BARE)))
                     else f"{k}={v}" for k, v in fields.items()])


def utc(timestamp: float) -> str:
    """ISO 8601 in UTC with milliseconds, as both JSON log paths write it."""
    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(timestamp)) + f".{int(timestamp % 1 * 1000):03d}Z"
