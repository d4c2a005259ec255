"""Logging set-up and the access log: one line per request with the real client.

The access log line names the client as the forwarded middleware saw it (not
the proxy), and for runs the tool, the target and how the run ended.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from . import keys


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


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
    outcome = request.get(keys.RUN_OUTCOME)
    if outcome is not None:
        fields["run"] = outcome.status
        fields["exit_code"] = outcome.exit_code
    return fields


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        fields = access_fields(request, response, time)
        # repr() keeps a hostile target on one line and visibly quoted.
        text = " ".join(
            f"{k}={v!r}" if isinstance(v, str) and k in ("target", "path") else f"{k}={v}"
            for k, v in fields.items()
        )
        self.logger.info(text, extra={"fields": fields})
