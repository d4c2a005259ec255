"""Which store ``WEBTRACE_RESULTS`` names, and where the default file lives."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .sqlite import SqliteStore
from .store import MemoryStore, Store

FILE_NAME = "results.sqlite3"


def default_path(env: Mapping[str, str]) -> Path:
    """systemd's state directory (``StateDirectory=``) if the server runs under one,
    else ``$XDG_STATE_HOME/webtrace`` (``~/.local/state/webtrace``)."""
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        return Path(state) / FILE_NAME
    xdg = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "webtrace" / FILE_NAME


def open_store(uri: str, ttl: float, env: Mapping[str, str] | None = None) -> Store | None:
    """The store ``uri`` names (checked by the settings); None for ``off``. Opens nothing yet:
    a store that cannot be reached fails its first write, not start-up."""
    env = os.environ if env is None else env
    if uri == "off":
        return None
    if uri == "memory://":
        return MemoryStore(ttl)
    if uri == "" or uri.startswith("sqlite://"):
        path = default_path(env) if uri == "" else Path(uri.removeprefix("sqlite://"))
        return SqliteStore(path, ttl)
    from .redis import RedisStore  # only where it is used

    return RedisStore(uri, ttl)
