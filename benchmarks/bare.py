"""Bare aiohttp servers: the yardsticks for the refused path and for response headers.

``python -m benchmarks.bare`` answers 429 to everything on a TCP port it
prints. ``python -m benchmarks.bare SOCKET`` answers every request on the unix
socket SOCKET with the headers of an event stream at once, then ends it after
``HOLD_S``: the least a server can do before it starts a tool.
``python -m benchmarks.bare --node LINES`` is a node that answers every run at once
with a whole run's stream (``start``, LINES lines, ``end``), on a TCP port it prints:
the least a node can do, for measuring a front's side of a part.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

HOLD_S = 1.0


async def refuse(request: web.Request) -> web.Response:
    return web.json_response({"error": {"code": "rate_limited", "message": "Too many runs."}},
                             status=429, headers={"Retry-After": "60"})


async def headers_at_once(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    await asyncio.sleep(HOLD_S)  # the stream stays open, as a run's would
    await resp.write_eof()
    return resp


def whole_run(lines: int) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    start: dict[str, object] = {"tool": "ping", "target": "127.0.0.1", "address": "127.0.0.1", "family": "4",
                                "protocol": "icmp", "port": None, "count": lines, "command": "ping -n 127.0.0.1",
                                "result": None}
    events: list[tuple[str, dict[str, object]]] = [("start", start)] + [
        ("line", {"text": f"64 bytes from 127.0.0.1: icmp_seq={i} ttl=64 time=0.035 ms"}) for i in range(1, lines + 1)]
    events.append(("end", {"status": "ok", "exit_code": 0, "duration_s": 0.8, "message": "ping exited with status 0"}))
    body = b"".join(f"id: {i}\r\nevent: {kind}\r\ndata: {json.dumps(data)}\r\n\r\n".encode()
                    for i, (kind, data) in enumerate(events, 1))

    async def answer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        await resp.write(body)
        await resp.write_eof()
        return resp
    return answer


async def main(unix_path: str | None, node_lines: int | None = None) -> None:
    app = web.Application()
    app.router.add_get("/{tail:.*}", whole_run(node_lines) if node_lines is not None
                       else refuse if unix_path is None else headers_at_once)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    if unix_path is None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        print(sock.getsockname()[1], flush=True)
    else:
        await web.UnixSite(runner, unix_path, backlog=4096).start()
        print(unix_path, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--node"]:
        asyncio.run(main(None, int(sys.argv[2])))
    else:
        asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
