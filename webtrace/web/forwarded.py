"""Who the client is: the peer, or what a trusted proxy says the client was.

Trust rules:
- A peer on the unix socket is trusted (only local processes, typically nginx,
  can connect to it); so is a TCP peer inside ``WEBTRACE_TRUSTED_PROXIES``.
- From a trusted peer, ``X-Forwarded-For`` is read right to left, skipping
  trusted proxies; the first untrusted address is the client. An unparseable
  entry stops the walk: the client is then the last proxy that was trusted.
- From an untrusted peer, the header is ignored, so it cannot be spoofed.
The result is stored as ``request[CLIENT_IP]`` for the limits, views and logs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from ..net.addresses import IPAddress, Network, in_networks, parse_address
from .keys import SETTINGS

UNIX_PEER = "unix"
# The client's address as this middleware determined it, read by the limits,
# the views and the access log.
CLIENT_IP: web.RequestKey[str] = web.RequestKey("client_ip")


def client_ip(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address; pure, see the module's trust rules."""
    def is_trusted(address: IPAddress) -> bool:
        return in_networks(address, trusted)
    if not peer:  # the unix socket: only local processes can connect
        current = UNIX_PEER
    else:
        peer_address = parse_address(peer)
        if peer_address is None:
            return peer
        current = str(peer_address)
        if not is_trusted(peer_address):
            return current
    entries = [e for header in forwarded_for for e in header.split(",") if e.strip()]
    for entry in reversed(entries):
        address = parse_address(entry)
        if address is None:
            break
        current = str(address)
        if not is_trusted(address):
            break
    return current


def setup_forwarded(app: web.Application) -> None:
    trusted = app[SETTINGS].trusted_proxies

    # The same peer and header always give the same client: keep recent answers.
    @functools.lru_cache(maxsize=4096)
    def cached_client_ip(peer: str | None, forwarded_for: tuple[str, ...]) -> str:
        return client_ip(peer, forwarded_for, trusted)

    @web.middleware
    async def forwarded_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[CLIENT_IP] = cached_client_ip(
            request.remote, tuple(request.headers.getall(hdrs.X_FORWARDED_FOR, ()))
        )
        return await handler(request)

    app.middlewares.append(forwarded_middleware)
