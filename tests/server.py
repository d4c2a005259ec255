"""Start the real ``python -m webtrace`` in a subprocess, for tests that need a whole server."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.harness import accepts

# Names off, as in tests/conftest.py's LOOPBACK_SETTINGS (and for the same reason).
LOOPBACK_ENV = {
    "WEBTRACE_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",
    "WEBTRACE_NAMES": "off",
    "WEBTRACE_PINGINTERVAL": "0.2",
    "WEBTRACE_MTRINTERVAL": "0.2",
    # Loopback and the lab's namespaces answer within a millisecond: mtr need not wait
    # its usual 2 s for late answers at the end of every run.
    "WEBTRACE_MTRGRACE": "0.2",
    "WEBTRACE_RATELIMIT": "1000/minute",
    "WEBTRACE_MAX_JOBS_PER_CLIENT": "20",
}
_LISTENING = re.compile(r"Running on (http://\S+)")


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    log: Path
    base: str  # http://127.0.0.1:PORT, or http://webtrace on a unix socket
    socket: Path | None

    def stop(self, timeout: float = 10) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout)


@contextmanager
def server_process(
    tmp: Path,
    env: Mapping[str, str] | None = None,
    *,
    unix: bool = True,
    argv: Sequence[str] | None = None,
    prefix: Sequence[str] = (),
    sock_name: str = "webtrace.sock",
    module: str = "webtrace",
) -> Iterator[ServerProcess]:
    """Start the server; on a unix socket in ``tmp``, or on 127.0.0.1 with a port the
    server picks itself (read from its own log, so no two tests race for a port).

    ``prefix`` wraps the command (setpriv, ip netns exec); ``argv`` replaces it (gunicorn);
    ``module`` is what ``python -m`` runs (tests.offline_server: webtrace with a resolver
    that never leaves this machine).
    """
    sock = tmp / sock_name
    log = tmp / f"server-{time.monotonic_ns()}.log"
    listen = ["--unix-socket", str(sock)] if unix else ["--host", "127.0.0.1", "--port", "0"]
    command = list(argv) if argv else [*prefix, sys.executable, "-m", module, *listen]
    # Results go to a file of the test's own (the default is under $XDG_STATE_HOME).
    full_env = {**os.environ, "XDG_STATE_HOME": str(tmp / "state"), **LOOPBACK_ENV, **(env or {})}
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = _wait_until_listening(process, log, sock if unix or argv else None)
        yield ServerProcess(process, log, base, sock if (unix or argv) else None)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def _wait_until_listening(process: subprocess.Popen[bytes], log: Path, sock: Path | None) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()}")
        if sock is not None and accepts(sock):
            return "http://webtrace"
        if sock is None and (found := _LISTENING.search(log.read_text())):
            return found.group(1)
        time.sleep(0.02)
    raise RuntimeError(f"the server did not start: {log.read_text()}")


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log: Path
    base: str
    session: aiohttp.ClientSession


@asynccontextmanager
async def running_server(
    tmp: Path,
    env: Mapping[str, str] | None = None,
    *,
    unix: bool = True,
    argv: Sequence[str] | None = None,
    prefix: Sequence[str] = (),
    sock_name: str = "webtrace.sock",
    module: str = "webtrace",
) -> AsyncIterator[Server]:
    """``server_process`` with a client session connected to it."""
    with server_process(tmp, env, unix=unix, argv=argv, prefix=prefix, sock_name=sock_name, module=module) as server:
        connector = (
            aiohttp.UnixConnector(path=str(server.socket)) if server.socket else aiohttp.TCPConnector()
        )
        async with aiohttp.ClientSession(connector=connector) as session:
            yield Server(server.process, server.log, server.base, session)


async def stopped(server: Server) -> int:
    """Stop the server as systemd would (SIGTERM) and wait for it: its logs are then complete."""
    server.process.send_signal(signal.SIGTERM)
    return await asyncio.get_running_loop().run_in_executor(None, server.process.wait)
