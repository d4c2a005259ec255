"""The application's keys for what ``create_app`` builds and the views read.

Keys for what a room of its own owns live in that room (the limiter in
``ratelimit``, the client's address in ``forwarded``, the run in ``accesslog``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from ..hops import Directory
    from ..runs.plan import Here
    from ..runs.query import RunQuery
    from ..runs.source import Source
    from ..nodes.registry import Nodes
    from ..results.recorder import Results
    from ..net.policy import AddressPolicy
    from ..net.targets import Resolver
    from ..process.runner import ProcessRunner
    from ..settings import Settings
    from ..tools import ToolSpec

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
RUNNER: web.AppKey[ProcessRunner] = web.AppKey("runner")
POLICY: web.AppKey[AddressPolicy] = web.AppKey("policy")
RESOLVER: web.AppKey[Resolver] = web.AppKey("resolver")
TOOLS: web.AppKey[Mapping[str, ToolSpec]] = web.AppKey("tools")
PLATFORM: web.AppKey[str] = web.AppKey("platform")
DIRECTORY: web.AppKey[Directory] = web.AppKey("directory")
RESULTS: web.AppKey[Results] = web.AppKey("results")
NODE: web.AppKey[str] = web.AppKey("node")  # this server's name, as results say where they were taken
NODES: web.AppKey[Nodes] = web.AppKey("nodes")
HERE: web.AppKey[Here] = web.AppKey("here")  # what runs are planned and started with

# A run route's query, read once (by the rate limit), and the source that answers it.
RUN_QUERY: web.RequestKey[RunQuery] = web.RequestKey("run_query")
SOURCE: web.RequestKey[Source] = web.RequestKey("source")
