"""Start the real ``python -m webtrace`` in a subprocess, for tests that need a whole server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.helpers import eventually

LOOPBACK_ENV = {
    "WEBTRACE_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",
    "WEBTRACE_PINGINTERVAL": "0.2",
    "WEBTRACE_MTRINTERVAL": "0.2",
    "WEBTRACE_RATELIMIT": "1000/minute",
    "WEBTRACE_MAX_JOBS_PER_CLIENT": "20",
}


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    socket: Path
    session: aiohttp.ClientSession
    log: Path

    @property
    def base(self) -> str:
        return "http://webtrace"


@asynccontextmanager
async def running_server(
    tmp: Path,
    env: Mapping[str, str] | None = None,
    *,
    prefix: Sequence[str] = (),
    sock_name: str = "webtrace.sock",
    bare: bool = False,
) -> AsyncIterator[Server]:
    """The server on a unix socket in ``tmp``; killed on exit if still running.

    ``prefix`` runs it under a wrapper (setpriv, ip netns exec); with ``bare``
    the prefix is the whole command line (gunicorn).
    """
    sock = tmp / sock_name
    log = tmp / "server.log"
    full_env = {**os.environ, **LOOPBACK_ENV, **(env or {})}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            list(prefix) if bare else [*prefix, sys.executable, "-m", "webtrace", "--unix-socket", str(sock)],
            env=full_env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        if not await eventually(lambda: sock.exists() or process.poll() is not None, 15):
            raise RuntimeError(f"the server did not start: {log.read_text()}")
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()}")
        connector = aiohttp.UnixConnector(path=str(sock))
        async with aiohttp.ClientSession(connector=connector) as session:
            yield Server(process, sock, session, log)
    finally:
        if process.poll() is None:
            process.kill()
        await asyncio.get_running_loop().run_in_executor(None, process.wait)
