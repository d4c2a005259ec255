"""Bare aiohttp servers: the yardsticks for the refused path and for response headers.

``python -m benchmarks.bare`` answers 429 to everything on a TCP port it
prints. ``python -m benchmarks.bare SOCKET`` answers every request on the unix
socket SOCKET with the headers of an event stream at once, then ends it after
``HOLD_S``: the least a server can do before it starts a tool.
"""

from __future__ import annotations

import asyncio
import socket
import sys

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


async def main(unix_path: str | None) -> None:
    app = web.Application()
    app.router.add_get("/{tail:.*}", refuse if unix_path is None else headers_at_once)
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
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
