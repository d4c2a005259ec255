"""Which addresses strangers may make this server probe.

By default only globally routable unicast addresses: every IANA special-purpose
range is denied, each with a reason a visitor can read. IPv6 forms that carry an
IPv4 address (mapped, 6to4, NAT64) are judged by the IPv4 address they carry
too, so a private IPv4 network cannot be reached through them. Operators widen
the policy with allow networks and narrow it with deny networks; deny wins. An
allowed network allows the addresses written in it, never their IPv6 translated
forms (which route elsewhere); a denied network denies both.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from ..refusals import Refusal
from .addresses import IPAddress, Network, in_networks


class PolicyDenied(Refusal, PermissionError):
    """The address may not be probed; the message says why."""

    status = 403
    code = "target_denied"


def _table(rows: Iterable[tuple[str, str]]) -> tuple[tuple[Network, str], ...]:
    return tuple((ipaddress.ip_network(net), why) for net, why in rows)


# Ordered most specific first where ranges nest; the first match gives the reason.
SPECIAL_PURPOSE = _table(
    [
        ("0.0.0.0/8", "a 'this network' address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol assignment"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.31.196.0/24", "an AS112 anycast address"),
        ("192.52.193.0/24", "an AMT anycast address"),
        ("192.88.99.0/24", "a 6to4 relay anycast address"),
        ("192.168.0.0/16", "a private address"),
        ("192.175.48.0/24", "an AS112 anycast address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("::ffff:0:0/96", "an IPv4-mapped address"),
        ("::/96", "an IPv4-compatible address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("100::/64", "a discard-only address"),
        ("2001:2::/48", "a benchmarking address"),
        ("2001:db8::/32", "a documentation address"),
        ("2001::/23", "an IETF protocol assignment"),
        ("3fff::/20", "a documentation address"),
        ("5f00::/16", "a segment-routing address"),
        ("fc00::/7", "a unique-local (private) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    ]
)

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is a translation form."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()

    def reason(self, address: IPAddress) -> str | None:
        """Why ``address`` is denied ("127.0.0.1 is a loopback address"), or None when it may be probed."""
        why = self._why(address)
        return None if why is None else f"{address} {why[0]}"

    def reason_for_name(self, name: str, address: IPAddress) -> str | None:
        """Why ``name``, resolving to ``address``, is denied, as one sentence:
        "localhost resolves to 127.0.0.1, a loopback address"."""
        why = self._why(address)
        return None if why is None else f"{name} resolves to {address}, {why[1]}"

    def _why(self, address: IPAddress) -> tuple[str, str] | None:
        """Why ``address`` is denied, said of it ("is a loopback address") and beside it
        ("a loopback address"), or None."""
        if in_networks(address, self.deny):
            return "is denied by this server's policy", "which this server's policy denies"
        if in_networks(address, self.allow):
            return None
        category = self._category(address)
        if category is None:
            return None
        beside = category if category.startswith(("a ", "an ")) else f"which is {category}"
        return f"is {category}", beside

    def _category(self, address: IPAddress) -> str | None:
        if isinstance(address, ipaddress.IPv6Address):
            inner = embedded_ipv4(address)
            if inner is not None and in_networks(inner, self.deny):
                return f"an IPv6 form of {inner}, which this server's policy denies"
            # An allowed network allows the addresses written in it, not their
            # translated forms: 64:ff9b::7f00:1 and 2002:7f00:1::1 route off this
            # machine even where 127.0.0.0/8 is allowed.
            if inner is not None:
                category = self._category(inner)
                if category is not None:
                    return f"an IPv6 form of {inner}, {category}"
        for net, category in SPECIAL_PURPOSE:
            if net.version == address.version and address in net:
                return category
        if not address.is_global:
            return "not a globally routable address"
        return None

    def check(self, address: IPAddress, name: str | None = None) -> None:
        """Raises PolicyDenied where ``address`` (what ``name`` resolves to, if given) may not be probed."""
        why = self.reason(address) if name is None else self.reason_for_name(name, address)
        if why is not None:
            raise PolicyDenied(why)
