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
output pipe (SCM_RIGHTS), or ``{"id": 7, "errno": 13, "strerror": "..."}``. When
a tool exits, it reaps it and says ``{"exit": 1234, "code": 0}`` (a negative
code is the signal that killed it). It exits when the server closes the socket.
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import signal
import socket
import sys
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

MAX_MESSAGE: Final = 1 << 20
# Signals this interpreter ignores or handles; a tool must start with the default.
_RESET: Final = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGINT)


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


def send(sock: socket.socket, message: dict[str, Any], fd: int | None = None) -> None:
    data = json.dumps(message).encode()
    ancillary = [] if fd is None else [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
    sock.sendmsg([data], ancillary)


def reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        send(sock, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def answer(sock: socket.socket, data: bytes, common: Launch) -> None:
    ident = None
    try:
        request = json.loads(data)
        ident = request["id"]
        pid, read_end = spawn(request, common)
    except OSError as exc:
        send(sock, {"id": ident, "errno": exc.errno, "strerror": exc.strerror or str(exc)})
        return
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        send(sock, {"id": ident, "errno": errno.EINVAL, "strerror": f"bad spawn request: {exc}"})
        return
    try:
        send(sock, {"id": ident, "pid": pid}, read_end)
    finally:
        os.close(read_end)


def serve(sock: socket.socket, batch: bool) -> None:
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when this ends
    common = launch(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), batch)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is sock:
                data = sock.recv(MAX_MESSAGE)
                if not data:
                    return
                answer(sock, data, common)
            else:
                os.read(wake_read, 512)
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
        serve(sock, batch)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server is gone


if __name__ == "__main__":
    main()
