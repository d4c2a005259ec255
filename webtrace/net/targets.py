"""What a visitor may type as a target, and how it becomes one literal address.

``parse_target`` is pure: text in, :class:`Target` out or :class:`TargetError`.
``resolve`` turns a target into the single address the tool is given, so the
address that the policy checked is the address that is probed (a name is never
handed to a tool, which would resolve it again and could get another answer).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

import idna

from ..refusals import BadRequest, Refusal
from .addresses import IPAddress, normalise
from .policy import AddressPolicy

MAX_NAME = 253
MAX_LABEL = 63
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
# inet_aton() reads "0x7f000001", "0177.1" and "2130706433" as addresses; a name
# whose last label looks like a number would reach the resolver as one.
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)\Z")
_URL_SCHEMES = ("http", "https")
# Controls, formatting (bidi overrides, zero-width joiners), separators, private
# use and unassigned code points: IDNA would silently drop some of them.
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zs", "Zl", "Zp"})


class Family(Enum):
    AUTO = "auto"
    V4 = "4"
    V6 = "6"

    @property
    def socket_family(self) -> int:
        return {Family.AUTO: socket.AF_UNSPEC, Family.V4: socket.AF_INET, Family.V6: socket.AF_INET6}[
            self
        ]

    @classmethod
    def of(cls, address: IPAddress) -> Family:
        return cls.V4 if address.version == 4 else cls.V6


class TargetError(BadRequest):
    """The target text (or its family) is not what a target may be."""


class ResolveError(Refusal, LookupError):
    """The name does not resolve, or not in the asked family."""

    status = 422
    code = "unresolvable"


@dataclass(frozen=True, slots=True)
class Target:
    text: str  # as typed, trimmed
    host: str  # ASCII hostname, or the canonical address text
    address: IPAddress | None  # set when the target is a literal


def parse_family(value: str | None) -> Family:
    if value is None or value == "":
        return Family.AUTO
    try:
        return Family(value.lower())
    except ValueError:
        raise TargetError(f"family must be auto, 4 or 6, not {value!r}") from None


AFTYPES = {"ipv4": Family.V4, "ipv6": Family.V6, "": Family.AUTO, "auto": Family.AUTO}


def parse_aftype(value: str | None) -> Family:
    """The original webtrace's ``aftype=ipv4|ipv6``."""
    try:
        return AFTYPES[(value or "").lower()]
    except KeyError:
        raise TargetError(f"aftype must be ipv4 or ipv6, not {value!r}") from None


def parse_target(text: str) -> Target:
    """Validate what the visitor typed; raise :class:`TargetError` if it is not a target."""
    trimmed = text.strip(" \t")
    if not trimmed:
        raise TargetError("no target given")
    if len(trimmed) > 1024:
        raise TargetError("the target is too long")
    candidate = _host_of_url(trimmed) if "://" in trimmed else trimmed
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    # Printable ASCII without a space holds none of them: most targets skip the search by character.
    plain = candidate.isascii() and candidate.isprintable() and " " not in candidate
    if not plain and any(ord(c) < 0x21 or unicodedata.category(c) in _INVISIBLE for c in candidate):
        raise TargetError("the target contains spaces, control or invisible characters")
    if candidate.startswith("-"):
        raise TargetError("the target must not start with '-'")
    if "%" in candidate:
        raise TargetError("zone ids and percent signs are not allowed in a target")
    address = _literal(candidate)
    if address is not None:
        return Target(text=trimmed, host=str(address), address=address)
    return Target(text=trimmed, host=_hostname(candidate), address=None)


def _host_of_url(text: str) -> str:
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise TargetError("the URL is malformed") from None
    if parts.scheme.lower() not in _URL_SCHEMES or not parts.hostname:
        raise TargetError("only http:// and https:// URLs are understood; type a host")
    del port
    host = parts.netloc.rpartition("@")[2]
    if host.startswith("["):
        return host[: host.index("]") + 1]
    return host.partition(":")[0]


def _literal(text: str) -> IPAddress | None:
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            raise TargetError(f"{text!r} is not a valid IPv6 address") from None
    if re.fullmatch(r"[0-9.]+", text):
        try:
            return ipaddress.IPv4Address(text)
        except ValueError:
            raise TargetError(
                f"{text!r} is not a dotted-quad IPv4 address such as 192.0.2.1"
            ) from None
    return None


def _hostname(text: str) -> str:
    try:
        ascii_name = idna.encode(text, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        raise TargetError(f"{text!r} is not a valid hostname") from None
    name = ascii_name.lower().removesuffix(".")
    if not name or len(name) > MAX_NAME:
        raise TargetError(f"a hostname has at most {MAX_NAME} characters")
    labels = name.split(".")
    for label in labels:
        if len(label) > MAX_LABEL:
            raise TargetError(f"a hostname label has at most {MAX_LABEL} characters")
        if not _LABEL.match(label):
            raise TargetError(f"{text!r} is not a valid hostname")
    if _NUMERIC_LABEL.match(labels[-1]):
        raise TargetError(f"{text!r} looks like a number, not a hostname or dotted-quad address")
    return name


Resolver = Callable[[str, Family], Awaitable[Sequence[IPAddress]]]


async def system_resolver(host: str, family: Family) -> Sequence[IPAddress]:
    """Resolve with the event loop's resolver (getaddrinfo in a thread)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            host, None, family=family.socket_family, type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError):
        return ()
    seen: dict[IPAddress, None] = {}
    for info in infos:
        raw = info[4][0]
        if isinstance(raw, str):
            seen.setdefault(ipaddress.ip_address(raw.partition("%")[0]), None)
    return tuple(seen)


async def resolve(
    target: Target,
    family: Family,
    policy: AddressPolicy,
    *,
    resolver: Resolver = system_resolver,
    timeout: float = 5.0,
) -> IPAddress:
    """The one address to probe; raises ResolveError or PolicyDenied.

    Every address the name resolves to is checked, not just the chosen one, so
    a name that mixes public and private addresses is refused as a whole.
    """
    if target.address is not None:
        address = normalise(target.address)
        if family is not Family.AUTO and Family.of(address) is not family:
            raise ResolveError(f"{target.host} is not an IPv{family.value} address")
        policy.check(address)
        return address
    try:
        async with asyncio.timeout(timeout):
            found = await resolver(target.host, family)
    except TimeoutError:
        raise ResolveError(f"{target.host} did not resolve within {timeout:g} s") from None
    addresses = [normalise(a) for a in found]
    if family is not Family.AUTO:
        addresses = [a for a in addresses if Family.of(a) is family]
    if not addresses:
        suffix = "" if family is Family.AUTO else f" to an IPv{family.value} address"
        raise ResolveError(f"{target.host} does not resolve{suffix}")
    for address in addresses:
        policy.check(address, name=target.host)
    return addresses[0]
