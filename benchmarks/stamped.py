"""Tool wrappers that stamp each line with the time it was printed.

``ping -D`` does it by itself; the wrapper directory goes first on the server's
PATH (and the floor's), so both run exactly the same command.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

STAMP = re.compile(rb"\[(\d{9,}\.\d+)\]")


def make_wrappers(directory: Path) -> Path:
    real = shutil.which("ping")
    if real is None:
        raise RuntimeError("ping is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / "ping"
    wrapper.write_text(f'#!/bin/sh\nexec {real} -D "$@"\n')
    wrapper.chmod(0o755)
    return directory


def path_with(directory: Path) -> str:
    return f"{directory}{os.pathsep}{os.environ.get('PATH', '')}"


def latency_of(line: bytes, now: float | None = None) -> float | None:
    """Seconds between the tool printing ``line`` and now; None for unstamped lines."""
    found = STAMP.search(line)
    if found is None:
        return None
    return (time.time() if now is None else now) - float(found.group(1))
