"""A real redis-server on a unix socket, for the shared rate-limit storage."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def redis_server(tmp: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Yields the process and a limits storage URI for it; no TCP port is opened."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (make test installs it)")
    sock = tmp / "redis.sock"
    log = tmp / "redis.log"
    process = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no",
         "--dir", str(tmp), "--logfile", str(log)],
    )
    try:
        deadline = time.monotonic() + 10
        # Wait for its own word that it is ready.
        while "ready to accept connections" not in (log.read_text() if log.exists() else ""):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {log.read_text() if log.exists() else ''}")
            time.sleep(0.01)
        yield process, f"redis+unix://{sock}"
    finally:
        process.terminate()
        process.wait(10)
