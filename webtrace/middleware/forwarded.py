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
import ipaddress
from collections.abc import Sequence

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from .. import keys
from ..settings import Network

UNIX_PEER = "unix"


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    # A scope id (fe80::1%eth0) names an interface of the sender, not the client,
    # and it is free text ("%x status=500"): the client is the address alone.
    text = text.partition("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_ip(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address; pure, see the module's trust rules."""
    def is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in net for net in trusted if net.version == address.version)

    if not peer:  # the unix socket: only local processes can connect
        current = UNIX_PEER
    else:
        peer_address = _parse(peer)
        if peer_address is None:
            return peer
        current = str(peer_address)
        if not is_trusted(peer_address):
            return current
    entries = [e for header in forwarded_for for e in header.split(",") if e.strip()]
    for entry in reversed(entries):
        address = _parse(entry)
        if address is None:
            break
        current = str(address)
        if not is_trusted(address):
            break
    return current


def setup_forwarded(app: web.Application) -> None:
    trusted = app[keys.SETTINGS].trusted_proxies

    # The same peer and header always give the same client: keep recent answers.
    @functools.lru_cache(maxsize=4096)
    def cached_client_ip(peer: str | None, forwarded_for: tuple[str, ...]) -> str:
        return client_ip(peer, forwarded_for, trusted)

    @web.middleware
    async def forwarded_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[keys.CLIENT_IP] = cached_client_ip(
            request.remote, tuple(request.headers.getall(hdrs.X_FORWARDED_FOR, ()))
        )
        return await handler(request)

    app.middlewares.append(forwarded_middleware)
