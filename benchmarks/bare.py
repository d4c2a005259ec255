"""A bare aiohttp server answering 429 to everything: the yardstick for the refused path.

Run as ``python -m benchmarks.bare``; it prints the port it listens on.
"""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web


async def refuse(request: web.Request) -> web.Response:
    return web.json_response({"error": {"code": "rate_limited", "message": "Too many runs."}},
                             status=429, headers={"Retry-After": "60"})


async def main() -> None:
    app = web.Application()
    app.router.add_get("/{tail:.*}", refuse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    print(sock.getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
