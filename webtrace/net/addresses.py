"""IP addresses and networks: the one place that normalises an address and asks
whether it lies in a list of networks."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (host bits allowed); raises ValueError."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def normalise(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is its IPv4 address: it is
    probed, limited and logged as that. Other forms are left as written."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_address(text: str) -> IPAddress | None:
    """An address as a peer or a proxy gives it (``[2001:db8::1]``, ``fe80::1%eth0``),
    normalised and without a scope id, or None if the text is not one.

    A scope id names an interface of the sender, not the client, and is free text
    (``%x status=500``): the address alone is kept."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    try:
        return normalise(ipaddress.ip_address(text.partition("%")[0]))
    except ValueError:
        return None


def in_networks(address: IPAddress, networks: Iterable[Network]) -> bool:
    return any(address in net for net in networks if net.version == address.version)
