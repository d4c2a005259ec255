"""Process groups: signal one, reap what is left of it, and the process-wide
settings that make reaping possible (subreaper, pidfd child watcher).

Why a subreaper: when a group is killed at once, the tool dies before it can reap
its children, and they are re-parented to PID 1. Under a minimal init (many
containers) nobody reaps them and zombies pile up, so on Linux the server asks
to inherit them instead (PR_SET_CHILD_SUBREAPER) and reaps them itself.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

_PR_SET_CHILD_SUBREAPER: Final = 36


def become_subreaper() -> bool:
    """Inherit orphaned grandchildren so that they can be reaped (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


# Per loop: the watcher that was there before, and how many users want pidfds.
_pidfd_users: dict[asyncio.AbstractEventLoop, tuple[asyncio.AbstractChildWatcher, int]] = {}


def use_pidfd_child_watcher() -> Callable[[], None] | None:
    """Wait for children through pidfds rather than one thread each (Python 3.11).

    Python 3.12 and later do this by default where the kernel supports it; 3.11
    starts a thread per child, which thousands of concurrent runs cannot afford.
    Call it with the loop running; returns a function that gives it up, or None
    if it changed nothing. Several apps on one loop share one watcher: the one
    before comes back when the last gives it up, so no app's children (the spawn
    helper lives as long as its app) lose their watcher early.
    """
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return None
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return None
    loop = asyncio.get_running_loop()
    if not isinstance(loop, asyncio.BaseEventLoop):
        return None  # another loop (uvloop) watches its children itself
    if loop in _pidfd_users:
        previous, users = _pidfd_users[loop]
        _pidfd_users[loop] = (previous, users + 1)
    else:
        previous = asyncio.get_child_watcher()
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(loop)
        asyncio.set_child_watcher(watcher)
        _pidfd_users[loop] = (previous, 1)

    def give_up() -> None:
        previous, users = _pidfd_users[loop]
        if users > 1:
            _pidfd_users[loop] = (previous, users - 1)
        else:
            del _pidfd_users[loop]
            asyncio.set_child_watcher(previous)

    return give_up


def signal_group(pgid: int, sig: int) -> bool:
    """Signal a whole process group; one already gone (or not ours) is no error. False:
    the group has no member left, not even one exited and unreaped (a zombie is still
    signalled)."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


async def reap_group(pgid: int, patience: float) -> None:
    """Kill what is left of the group and reap members re-parented to this process.

    Every path that ends a group comes through here: a tool's own children
    (mtr's mtr-packet) are re-parented to this process (a subreaper) when the
    tool dies, and only this process can reap them."""
    if not signal_group(pgid, signal.SIGKILL):
        return  # nothing left to kill or reap
    loop = asyncio.get_running_loop()
    give_up = loop.time() + patience
    while True:
        try:
            while os.waitid(os.P_PGID, pgid, os.WEXITED | os.WNOHANG) is not None:
                pass
        except ChildProcessError:
            pass
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        if loop.time() >= give_up:
            log.warning("process group %d still has members after the kill", pgid)
            return
        await asyncio.sleep(0.01)
