"""The spawn helper: a small process that starts the tools for the server.

Starting a process blocks the caller until the child has exec'ed (half a
millisecond or more), and in the server that caller is the event loop: a crowd
arriving at once would wait for a thousand spawns in a row. The server hands
spawns to this helper instead, so they run on another core while the loop
keeps answering requests.

It is run as a script (``python -I -S spawn_helper.py FD``) and imports only the
standard library, so it starts quickly and stays small. Over the SOCK_SEQPACKET
socket FD it takes one JSON request per message::

    {"id": 7, "argv": [...], "executable": "/usr/bin/ping" | null}

and answers with ``{"id": 7, "pid": 1234}`` carrying the read end of the tool's
output pipe (SCM_RIGHTS), or ``{"id": 7, "errno": 13, "strerror": "..."}``. It
exits when the server closes the socket.

How the server learns a tool's exit depends on the kernel. From Linux 6.15 a
pidfd tells the exit status of the process it refers to once that is reaped
(``PIDFD_GET_INFO``): the helper then lets the kernel reap its children as they
exit (SIGCHLD ignored), and each answer carries the tool's pidfd too, with
``"pidfd": true``; the server watches it, and the helper is never woken by an
exit (under load, that wake cost about a quarter of the helper's CPU). On older
kernels, or with ``--exits-here``, the helper reaps each tool itself and says
``{"exit": 1234, "code": 0}`` (a negative code is the signal that killed it).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import selectors
import signal
import socket
import struct
import sys
from collections.abc import Iterator, Mapping
from typing import Any, Final, NamedTuple

MAX_MESSAGE: Final = 1 << 20
# Signals this interpreter ignores or handles; a tool must start with the default.
_RESET: Final = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGINT)
# ``ioctl(pidfd, PIDFD_GET_INFO, struct pidfd_info)`` (linux/pidfd.h, Linux 6.13; the
# exit status from 6.15): the first 64 bytes of the struct, which every later kernel
# accepts; the mask asks for the exit and says whether it was given.
PIDFD_GET_INFO: Final = 0xC040FF0B  # _IOWR(0xFF, 11, 64 bytes)
PIDFD_INFO_EXIT: Final = 1 << 3
_INFO_SIZE: Final = 64
_EXIT_CODE_AT: Final = 60  # __s32 exit_code, after the mask, the cgroup id and eleven ids


class Launch(NamedTuple):
    """What every spawn shares, prepared once."""

    devnull: int
    # A plain copy, as bytes: posix_spawn would otherwise decode and re-encode
    # os.environ for every tool, the largest part of a spawn's CPU here.
    environ: Mapping[bytes, bytes]
    options: Mapping[str, Any]


def launch(devnull: int, batch: bool) -> Launch:
    options: dict[str, Any] = {"setsid": True, "setsigdef": _RESET, "setsigmask": ()}
    if batch:  # the tools are scheduled as any process would be, not as the helper
        options["scheduler"] = (os.SCHED_OTHER, os.sched_param(0))
    return Launch(devnull, dict(os.environb), options)


def wait_status(pidfd: int) -> int | None:
    """The wait status (as ``waitpid`` gives it) of the process ``pidfd`` refers to, once
    it has been reaped; None before then, or where the kernel cannot tell it."""
    info = bytearray(_INFO_SIZE)
    struct.pack_into("@Q", info, 0, PIDFD_INFO_EXIT)
    try:
        fcntl.ioctl(pidfd, PIDFD_GET_INFO, info)
    except OSError:
        return None
    if not struct.unpack_from("@Q", info, 0)[0] & PIDFD_INFO_EXIT:
        return None
    status: int = struct.unpack_from("@i", info, _EXIT_CODE_AT)[0]
    return status


def exits_by_pidfd() -> bool:
    """Whether this kernel tells a reaped child's exit status through its pidfd: asked
    of a child that exits with a known code. Forks: for the helper (one thread), before
    SIGCHLD is ignored."""
    try:
        pid = os.fork()
    except OSError:
        return False
    if pid == 0:
        os._exit(3)
    try:
        pidfd = os.pidfd_open(pid)  # a zombie until reaped just below, so never too late
    except OSError:
        os.waitpid(pid, 0)
        return False
    try:
        os.waitpid(pid, 0)
        status = wait_status(pidfd)
        return status is not None and os.waitstatus_to_exitcode(status) == 3
    finally:
        os.close(pidfd)


def spawn_watched(request: dict[str, Any], common: Launch) -> tuple[int, int, int]:
    """``spawn``, and a pidfd for the tool, opened before it can be reaped: the kernel
    reaps a child of this helper as it exits, so for the moment between the spawn and
    the pidfd, an exit leaves a zombie (reaped here, once the pidfd is open)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        pid, read_end = spawn(request, common)
        try:
            pidfd = os.pidfd_open(pid)
        except BaseException:  # out of descriptors: a tool nobody could watch must not run
            os.close(read_end)
            os.killpg(pid, signal.SIGKILL)
            raise
    finally:
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        for _ in ended():
            pass  # a tool that ended in that moment: its pidfd tells the server
    return pid, read_end, pidfd


def spawn(request: dict[str, Any], common: Launch) -> tuple[int, int]:
    """Start the tool in a session of its own; returns its pid and its output's read end."""
    argv = [str(a) for a in request["argv"]]
    environ = common.environ
    read_end, write_end = os.pipe()  # both close-on-exec; the dup2 copies are not
    actions = [
        (os.POSIX_SPAWN_DUP2, common.devnull, 0),
        (os.POSIX_SPAWN_DUP2, write_end, 1),
        (os.POSIX_SPAWN_DUP2, write_end, 2),
    ]
    options = {**common.options, "file_actions": actions}
    try:
        executable = request.get("executable")
        if executable:
            pid = os.posix_spawn(executable, argv, environ, **options)
        else:
            pid = os.posix_spawnp(argv[0], argv, environ, **options)
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return pid, read_end


def send(sock: socket.socket, message: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
    data = json.dumps(message).encode()
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] if fds else []
    sock.sendmsg([data], ancillary)


def ended() -> Iterator[tuple[int, int]]:
    """Reap each child that has ended: its pid and wait status."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


def reap(sock: socket.socket) -> None:
    for pid, status in ended():
        send(sock, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def answer(sock: socket.socket, data: bytes, common: Launch, watched: bool) -> None:
    """Spawn what ``data`` asks; ``watched``: the server watches each tool's exit through
    its pidfd, sent with the answer."""
    ident = None
    try:
        request = json.loads(data)
        ident = request["id"]
        if watched:
            pid, *fds = spawn_watched(request, common)
        else:
            pid, *fds = spawn(request, common)
    except OSError as exc:
        send(sock, {"id": ident, "errno": exc.errno, "strerror": exc.strerror or str(exc)})
        return
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        send(sock, {"id": ident, "errno": errno.EINVAL, "strerror": f"bad spawn request: {exc}"})
        return
    try:
        send(sock, {"id": ident, "pid": pid, "pidfd": True} if watched else {"id": ident, "pid": pid}, tuple(fds))
    finally:
        for fd in fds:
            os.close(fd)


def serve(sock: socket.socket, batch: bool, exits_here: bool = False) -> None:
    """Answer the server until it closes the socket. ``exits_here``: reap each tool here
    and tell its exit, even where the server could watch it through its pidfd."""
    watched = not exits_here and exits_by_pidfd()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when this ends
    common = launch(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), batch)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    if watched:
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps each tool as it exits
    else:
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        selector.register(wake_read, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is sock:
                data = sock.recv(MAX_MESSAGE)
                if not data:
                    return
                answer(sock, data, common, watched)
            else:
                os.read(wake_read, 512)
        if not watched:
            reap(sock)


def become_batch() -> bool:
    """As a batch process the helper does not preempt the server's loop when it is
    handed a spawn: on a busy machine it waits for a free core rather than take the
    loop's and delay every stream's next line (measured with 1000 visitors at once:
    headers p99 0.27-0.29 s rather than 0.30-0.34 s, line latency p99 15-19 ms
    rather than 27-29 ms)."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (OSError, AttributeError):
        return False  # a sandbox that forbids it; spawns work the same
    return True


def main() -> None:
    batch = become_batch()
    fd = int(sys.argv[1])
    os.set_inheritable(fd, False)  # never pass the channel on to a tool
    sock = socket.socket(fileno=fd)
    try:
        serve(sock, batch, exits_here="--exits-here" in sys.argv[2:])
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server is gone


if __name__ == "__main__":
    main()
