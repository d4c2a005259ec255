"""The descriptors this server holds, against its open-files limit.

A server out of descriptors drops the connections waiting to be accepted
without a word: the event loop (libuv, under uvloop) accepts and closes them,
and nothing reaches the log. So a periodic count says it before that happens:
once when the descriptors in use reach ``HIGH`` of the limit, and once when
they are back under ``LOW``.
"""

from __future__ import annotations

import logging
import os
import resource
from typing import Literal

log = logging.getLogger(__name__)

HIGH = 0.9
LOW = 0.75
CHECK_EVERY_S = 1.0  # counting 5000 descriptors takes 2.5 ms here: a quarter of a percent of a core

Level = Literal["high", "normal"]


def open_descriptors(limit: int | None = None) -> int | None:
    """Descriptors this process holds now, those numbered under the open-files ``limit``
    only when it is given (one inherited above it takes no place under it); None where
    /proc does not say, or no descriptor is free to list it with."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    # Less the listing's own descriptor: the lowest free number, under the limit.
    return sum(1 for name in names if limit is None or int(name) < limit) - 1


def descriptor_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def level_after(level: Level, in_use: int, limit: int) -> Level:
    """The level once ``in_use`` of ``limit`` is counted: high from HIGH of the limit
    until back under LOW, so a count hovering at the line says it once. Pure."""
    if level == "normal" and in_use >= HIGH * limit:
        return "high"
    if level == "high" and in_use < LOW * limit:
        return "normal"
    return level


class DescriptorWatch:
    """Counts, and logs each change of level once.

    Listing /proc/self/fd takes a descriptor of its own, and near the limit, when the
    count matters, none may be free: the watch holds a spare one and lets it go for the
    time of each listing."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit if limit is not None else descriptor_limit()
        self.level: Level = "normal"
        self._spare = _reserve()

    def count(self) -> int | None:
        """Descriptors in use, the spare included when it is held."""
        held = self._spare is not None
        self.close()
        in_use = open_descriptors(self.limit)
        self._spare = _reserve()
        return None if in_use is None else in_use + held

    def check(self) -> None:
        if self.limit <= 0 or self.limit == resource.RLIM_INFINITY:
            return  # no limit to run into
        in_use = self.count()
        if in_use is None:
            return
        level = level_after(self.level, in_use, self.limit)
        if level == self.level:
            return
        self.level = level
        if level == "high":
            log.warning(
                "open files: %d of the limit of %d in use; when none is left, new connections are "
                "dropped unanswered and unlogged: raise LimitNOFILE (systemd) or ulimit -n, "
                "or lower WEBTRACE_MAX_JOBS", in_use, self.limit)
        else:
            log.info("open files: back to %d of the limit of %d", in_use, self.limit)

    def close(self) -> None:
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None


def _reserve() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # none free now; the next count tries again
