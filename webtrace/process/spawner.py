"""Start tools through the spawn helper process (see ``spawn_helper.py`` for why).

:class:`Spawner` is the server's side of the helper: it sends spawn requests,
turns each answer into a :class:`Child` (pid, output stream, exit status) and
restarts the helper if it ever dies. Runs in flight do not depend on the helper
once started: their output pipes belong to the server, their process groups are
signalled by pgid, and if the helper dies its children pass to this process (a
subreaper), which then waits for them itself.

Tools get the environment the server had when the helper started.

A tool's exit: where the kernel tells it through a pidfd (Linux 6.15), the
helper sends the tool's pidfd with its pipe and this side watches it; elsewhere
the helper reaps the tool and says how it ended (``spawn_helper.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from .groups import reap_group, signal_group
from .pipe import PipeReader
from .spawn_helper import wait_status

log = logging.getLogger(__name__)

HELPER: Final = Path(__file__).with_name("spawn_helper.py")
_MAX_MESSAGE: Final = 1 << 16
_FD_SPACE: Final = socket.CMSG_SPACE(8)  # a tool's pipe, and its pidfd
# One spawn at a time: a crowd's tools starting all at once would starve the
# server of the CPU it needs to answer that crowd (measured: response headers
# 0.53 s for 1000 visitors at once with one in flight, 1.1 s with four, 2.6 s
# unpaced). The helper is still never idle for long: the next request goes out
# as soon as an answer comes in. Measured again with the helper at batch priority:
# four in flight brought that crowd's first tool line from 1.59-1.64x the floor's
# to 1.41-1.48x, but its lines came later (p99 16-34 ms rather than 15-20), and a
# crowd of 200 at once from two nodes saw 71 ms at p99 rather than 17-24.
_IN_FLIGHT: Final = 1
# How long an unwanted tool's group may take to die and be reaped.
_REAP_PATIENCE_S: Final = 2.0

# The helper's answer: the pid, the read end of its output, its exit to come.
_Answer = tuple[int, int, "asyncio.Future[int | None]"]


class Child:
    """A tool started by the helper, shaped like ``asyncio.subprocess.Process``
    (what the runner calls a ``ToolProcess``)."""

    def __init__(self, pid: int, stdout: PipeReader, *, exited: asyncio.Future[int | None]) -> None:
        self.pid = pid
        self.stdout = stdout
        self._exited = exited

    @property
    def returncode(self) -> int | None:
        if not self._exited.done():
            return None
        return self._exited.result()

    async def wait(self) -> int | None:
        """The exit code (negative: killed by that signal); None if it could not be learnt."""
        return await asyncio.shield(self._exited)

    def close(self) -> None:
        """Close the output pipe (nothing else does: the run's end calls this)."""
        self.stdout.close()


class Spawner:
    """The server's end of the spawn helper; create it anywhere, use it on one loop."""

    def __init__(self, *, exits_here: bool = False) -> None:
        # Whether the helper reaps every tool and tells its exit, even where this side
        # could watch it through a pidfd (tests of the older kernels' way).
        self._exits_here = exits_here
        self._sock: socket.socket | None = None
        self._helper: asyncio.subprocess.Process | None = None
        self._starting: asyncio.Task[None] | None = None
        self._next_id = 0
        self._answers: dict[int, asyncio.Future[_Answer]] = {}
        self._exits: dict[int, asyncio.Future[int | None]] = {}  # told by the helper
        self._watched = _Exits()  # seen here, through their pidfds
        self._outbox: deque[bytes] = deque()
        self._in_flight = 0
        self._gone: asyncio.Future[None] | None = None  # done when the helper's socket closes
        self._closed = False
        self._reapers: set[asyncio.Task[None]] = set()

    @staticmethod
    def usable() -> bool:
        """Whether this system has what the helper and its orphans' adoption need."""
        return hasattr(os, "posix_spawn") and hasattr(os, "pidfd_open") and hasattr(socket, "SOCK_SEQPACKET")

    async def start(self) -> None:
        """Start the helper (again, if it died); concurrent callers share one start."""
        if self._sock is not None:
            return
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        try:
            await asyncio.shield(self._starting)
        finally:
            self._starting = None

    async def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._helper = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", str(HELPER), str(theirs.fileno()),
                *(["--exits-here"] if self._exits_here else []),
                executable=_interpreter(),  # argv[0] stays readable in ps
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        self._gone = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().add_reader(ours.fileno(), self._receive)

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        executable: str | None = None,
    ) -> Child:
        """Start ``argv`` in a session of its own, output and errors on one pipe;
        raises OSError as starting it directly would."""
        if self._closed:
            raise OSError(errno.ESHUTDOWN, "the spawner is closed")
        await self.start()
        if self._sock is None:  # the new helper stopped as soon as it started
            raise OSError(errno.EPIPE, "the spawn helper stopped")
        loop = asyncio.get_running_loop()
        self._next_id += 1
        ident = self._next_id
        answer: asyncio.Future[_Answer] = loop.create_future()
        self._answers[ident] = answer
        request = {"id": ident, "argv": list(argv), "executable": executable}
        self._outbox.append(orjson.dumps(request))  # orjson: json's Python layers showed in a short run's profile
        self._flush()
        try:
            pid, fd, exited = await answer
        except asyncio.CancelledError:
            # The asker left just as its answer came in: the tool started and is ours.
            if answer.done() and not answer.cancelled() and answer.exception() is None:
                pid, fd, _ = answer.result()
                os.close(fd)
                self._exits.pop(pid, None)
                self._end_group(pid)
            raise
        finally:
            self._answers.pop(ident, None)
        try:
            return Child(pid, PipeReader(fd), exited=exited)
        except BaseException:
            # Its pipe could not be watched: the tool must not outlive its request.
            with contextlib.suppress(OSError):
                os.close(fd)
            self._exits.pop(pid, None)
            self._end_group(pid)
            raise

    def _end_group(self, pgid: int) -> None:
        """Kill the group of a tool nobody will read. The helper reaps the tool; its
        own children are re-parented to this process, which must reap them."""
        signal_group(pgid, signal.SIGKILL)
        reaper = asyncio.ensure_future(reap_group(pgid, _REAP_PATIENCE_S))
        self._reapers.add(reaper)
        reaper.add_done_callback(self._reapers.discard)

    def _flush(self) -> None:
        """Send what waits, in order; if the socket is full, go on when it drains."""
        sock = self._sock
        if sock is None:
            return
        loop = asyncio.get_running_loop()
        while self._outbox and self._in_flight < _IN_FLIGHT:
            try:
                sock.send(self._outbox[0])
            except (BlockingIOError, InterruptedError):
                loop.add_writer(sock.fileno(), self._flush)  # replaces any earlier one
                return
            except OSError:
                return  # the helper is gone; the reader sees it and fails what waits
            self._outbox.popleft()
            self._in_flight += 1
        loop.remove_writer(sock.fileno())

    def _receive(self) -> None:
        sock = self._sock
        assert sock is not None
        while True:
            try:
                data, ancillary, _, _ = sock.recvmsg(_MAX_MESSAGE, _FD_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, ancillary = b"", []
            fds = [fd for level, kind, d in ancillary if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
                   for fd in struct.unpack(f"{len(d) // 4}i", d[:len(d) - len(d) % 4])]
            if not data:
                for fd in fds:
                    os.close(fd)
                self._lost()
                return
            self._dispatch(orjson.loads(data), fds)

    def _dispatch(self, message: dict[str, Any], fds: list[int]) -> None:
        if "exit" in message:
            waiting = self._exits.pop(message["exit"], None)
            if waiting is not None and not waiting.done():
                waiting.set_result(message["code"])
            return
        self._in_flight -= 1
        self._flush()
        answer = self._answers.pop(message.get("id", -1), None)
        pid: int | None = message.get("pid")
        wanted = answer is not None and not answer.done()  # or its asker left meanwhile
        watched = bool(message.get("pidfd"))
        if not (wanted and pid is not None and len(fds) == (2 if watched else 1)):
            for fd in fds:
                os.close(fd)
            if pid is not None:
                self._end_group(pid)  # nobody reads it, or it came without its pipe
            if answer is not None and not answer.done():
                reason = message.get("strerror", "spawn failed")
                answer.set_exception(OSError(message.get("errno") or errno.EIO, reason))
            return
        assert answer is not None and pid is not None
        exited: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        if watched:
            self._watched.watch(fds[1], exited)
        else:
            self._exits[pid] = exited
        answer.set_result((pid, fds[0], exited))

    def _lost(self) -> None:
        """The helper is gone: fail what waits for an answer, watch its orphans here."""
        sock, self._sock = self._sock, None
        if sock is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(sock.fileno())
            loop.remove_writer(sock.fileno())
            sock.close()
            if self._gone is not None and not self._gone.done():
                self._gone.set_result(None)
        self._outbox.clear()
        self._in_flight = 0
        if not self._closed:
            log.warning("the spawn helper stopped; it starts again at the next run")
        for answer in self._answers.values():
            if not answer.done():
                answer.set_exception(OSError(errno.EPIPE, "the spawn helper stopped"))
        self._answers.clear()
        exits, self._exits = self._exits, {}
        for pid, exited in exits.items():
            if not exited.done():
                _adopt(pid, exited)

    async def close(self) -> None:
        """Stop the helper and wait for it."""
        self._closed = True
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)
        if self._sock is not None and self._gone is not None:
            # The helper reads EOF after the requests already sent, answers them and
            # exits; reading to its end means no tool started meanwhile goes unseen
            # (one whose asker left is killed as its answer comes in).
            self._outbox.clear()
            self._sock.shutdown(socket.SHUT_WR)
            try:
                await asyncio.wait_for(asyncio.shield(self._gone), 2.0)
            except TimeoutError:
                pass
        helper = self._helper
        if helper is not None:
            try:
                await asyncio.wait_for(helper.wait(), 2.0)
            except TimeoutError:
                helper.kill()
                await helper.wait()
        if self._sock is not None:
            self._lost()
        if self._reapers:
            await asyncio.gather(*self._reapers, return_exceptions=True)
        self._watched.close()


class _Exits:
    """The tools whose exits this side watches, through their pidfds.

    A pidfd is readable once its process has exited, and signals again, with
    EPOLLHUP, once the kernel has reaped it: only then can it tell the exit
    status. So each pidfd goes into an epoll of its own, edge-triggered, and the
    loop watches that one descriptor: a tool's exit costs the loop no reader of its
    own, and no timer to ask again while the kernel finishes reaping it."""

    def __init__(self) -> None:
        self._epoll: select.epoll | None = None
        self._waiting: dict[int, asyncio.Future[int | None]] = {}  # by pidfd

    def watch(self, pidfd: int, exited: asyncio.Future[int | None]) -> None:
        if self._epoll is None:
            self._epoll = select.epoll()
            asyncio.get_running_loop().add_reader(self._epoll.fileno(), self._ready)
        self._waiting[pidfd] = exited
        self._epoll.register(pidfd, select.EPOLLIN | select.EPOLLET)

    def _ready(self) -> None:
        assert self._epoll is not None
        for pidfd, events in self._epoll.poll(0):
            status = wait_status(pidfd) if events & select.EPOLLHUP else None
            if status is not None:
                self._told(pidfd, os.waitstatus_to_exitcode(status))
                continue
            # Exited, and not reaped: by the kernel in a moment (its reap signals again),
            # or by this process, a subreaper, if the helper died and left it here.
            code = _collect(pidfd, os.P_PIDFD)
            if code is not None or events & select.EPOLLHUP:
                self._told(pidfd, code)

    def _told(self, pidfd: int, code: int | None) -> None:
        exited = self._waiting.pop(pidfd)
        os.close(pidfd)  # which takes it out of the epoll
        if not exited.done():
            exited.set_result(code)

    def close(self) -> None:
        """Stop watching (the server is stopping): an exit not seen yet is unknown."""
        for pidfd in list(self._waiting):
            self._told(pidfd, None)
        if self._epoll is not None:
            asyncio.get_running_loop().remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None


def _interpreter() -> str:
    """The running interpreter: by its path where this process may run that, else
    through /proc/self/exe, since the path may pass through a directory the service's
    user cannot search (a venv's link to an interpreter in root's home) and the kernel
    follows this link regardless. The path first, because /proc/self/exe names
    whatever program runs the interpreter, if one does (valgrind, when
    benchmarks/instructions.py counts a server's instructions)."""
    if sys.executable and os.access(sys.executable, os.X_OK):
        return sys.executable
    return "/proc/self/exe" if os.path.exists("/proc/self/exe") else sys.executable


def _adopt(pid: int, exited: asyncio.Future[int | None]) -> None:
    """Learn the exit of a tool whose helper died: as a subreaper, this process is
    now its parent. If it is not (no subreaper), the code stays unknown."""
    loop = asyncio.get_running_loop()
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        exited.set_result(_collect(pid))
        return

    def ready() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        if not exited.done():
            exited.set_result(_collect(pid))

    loop.add_reader(pidfd, ready)


def _collect(pid: int, idtype: int = os.P_PID) -> int | None:
    """The exit code of a child of this process that has ended, reaped now (``pid``: a
    pidfd, with ``os.P_PIDFD``); None if it is not this process's child, or still runs."""
    try:
        result = os.waitid(idtype, pid, os.WEXITED | os.WNOHANG)
    except ChildProcessError:
        return None
    if result is None:
        return None
    if result.si_code == os.CLD_EXITED:
        return result.si_status
    return -result.si_status
