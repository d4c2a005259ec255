"""One family for every reason to refuse a request before anything runs.

A refusal is raised wherever its reason is found (the target's grammar, the
address policy, the resolver, the tools, the runner's capacity, the rate
limit) and turned into a response in one place (``webtrace.web.refusals``),
which also counts it. Each kind carries its HTTP status and a stable code;
the message is a sentence a visitor can read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

# Seconds a client is asked to wait when the server is busy or stopping.
BUSY_RETRY_AFTER_S = 5


class Refusal(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    retry_after_s: int | None = None  # seconds the client should wait before asking again

    def __init__(
        self, message: str, *, retry_after_s: int | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s
        self.headers: Mapping[str, str] = headers or {}  # more to say, e.g. RateLimit-*


class BadRequest(Refusal, ValueError):
    """A malformed target or parameter."""


class UnknownTool(Refusal, LookupError):
    status = 404
    code = "unknown_tool"


class ServerBusy(Refusal, RuntimeError):
    """The server cannot start a run now; the client may try again shortly."""

    status = 503
    code = "busy"
    retry_after_s = BUSY_RETRY_AFTER_S
