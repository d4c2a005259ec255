"""The spawn helper: a small process that starts the tools for the server.

Starting a process blocks the caller until the child has exec'ed (half a
millisecond or more), and in the server that caller is the event loop: a crowd
arriving at once would wait for a thousand spawns in a row. The server hands
spawns to this helper instead, so they run on another core while the loop
keeps answering requests.

It is run as a script (``python -I -S spawn_helper.py FD``) and imports only the
standard library, so it starts quickly and stays small. Over the SOCK_SEQPACKET
socket FD it takes one JSON request per message::

    {"id": 7, "argv": [...], "executable": "/usr/bin/ping" | null, "env": {...} | null}

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
from typing import Any, Final

MAX_MESSAGE: Final = 1 << 20
# Signals this interpreter ignores or handles; a tool must start with the default.
_RESET: Final = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGINT)


def spawn(request: dict[str, Any], devnull: int, inherited: Mapping[bytes, bytes]) -> tuple[int, int]:
    """Start the tool in a session of its own; returns its pid and its output's read end."""
    argv = [str(a) for a in request["argv"]]
    env = request.get("env")
    environ = inherited if env is None else {str(k): str(v) for k, v in env.items()}
    read_end, write_end = os.pipe()  # both close-on-exec; the dup2 copies are not
    actions = [
        (os.POSIX_SPAWN_DUP2, devnull, 0),
        (os.POSIX_SPAWN_DUP2, write_end, 1),
        (os.POSIX_SPAWN_DUP2, write_end, 2),
    ]
    options: dict[str, Any] = {
        "file_actions": actions, "setsid": True, "setsigdef": _RESET, "setsigmask": (),
    }
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


def answer(sock: socket.socket, data: bytes, devnull: int, inherited: Mapping[bytes, bytes]) -> None:
    ident = None
    try:
        request = json.loads(data)
        ident = request["id"]
        pid, read_end = spawn(request, devnull, inherited)
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


def serve(sock: socket.socket) -> None:
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when this ends
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    # A plain copy, as bytes: posix_spawn would otherwise decode and re-encode
    # os.environ for every tool, the largest part of a spawn's CPU here.
    inherited = dict(os.environb)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is sock:
                data = sock.recv(MAX_MESSAGE)
                if not data:
                    return
                answer(sock, data, devnull, inherited)
            else:
                os.read(wake_read, 512)
        reap(sock)


def main() -> None:
    fd = int(sys.argv[1])
    os.set_inheritable(fd, False)  # never pass the channel on to a tool
    sock = socket.socket(fileno=fd)
    try:
        serve(sock)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server is gone


if __name__ == "__main__":
    main()
