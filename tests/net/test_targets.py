import ipaddress

import pytest
from hypothesis import given, settings, strategies as st

from webtrace.net.policy import AddressPolicy, PolicyDenied
from webtrace.net.targets import (
    Family, ResolveError, TargetError, parse_aftype, parse_family, parse_target, resolve,
)

LOOPBACK_OK = AddressPolicy(allow=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")))


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("  192.0.2.1\t", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:DB8:0::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("Example.NET", "example.net"),
        ("example.net.", "example.net"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("https://example.net/path?q=1", "example.net"),
        ("http://[2001:db8::1]:8080/", "2001:db8::1"),
        ("http://user@example.net", "example.net"),
        ("localhost", "localhost"),
        ("a-b.c-d.example", "a-b.c-d.example"),
    ],
)
def test_accepted_targets(text: str, host: str) -> None:
    assert parse_target(text).host == host


@pytest.mark.parametrize(
    "text",
    [
        "", "   ", "-f", "--help", "-c 100000", "127.0.0.1 -c 5", "example.net;id", "$(id)",
        "`id`", "a|b", "a&b", "example.net\n", "exa\rmple", "exa\x00mple", "fe80::1%eth0",
        "192.0.2.1:80", "[::1]:80", "0x7f000001", "017700000001", "127.1", "2130706433",
        "256.1.1.1", "1.2.3", "a" * 64 + ".example", ("a." * 127) + "aa", "-example.net",
        "example-.net", "exa_mple.net", "ftp://example.net", "http://", "::g",
        "example.net\u202e", "\u200bexample.net", "a..b",
    ],
)
def test_rejected_targets(text: str) -> None:
    with pytest.raises(TargetError):
        parse_target(text)


def test_family_and_aftype() -> None:
    assert parse_family(None) is Family.AUTO
    assert parse_family("6") is Family.V6
    assert parse_aftype("ipv4") is Family.V4
    assert parse_aftype("ipv6") is Family.V6
    for bad in ("5", "ipv4"):
        with pytest.raises(TargetError):
            parse_family(bad)
    with pytest.raises(TargetError):
        parse_aftype("4")


@given(st.text(max_size=300))
@settings(max_examples=500, deadline=None)
def test_parser_raises_only_its_own_error_and_accepts_only_valid_targets(text: str) -> None:
    try:
        target = parse_target(text)
    except TargetError:
        return
    if target.address is not None:
        assert str(ipaddress.ip_address(target.host)) == target.host
    else:
        assert len(target.host) <= 253
        labels = target.host.split(".")
        assert all(1 <= len(label) <= 63 for label in labels)
        assert all(c.isascii() and (c.isalnum() or c == "-") for label in labels for c in label)
        assert not target.host.startswith("-")


@given(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,10}){1,3}", fullmatch=True))
def test_valid_hostnames_round_trip(name: str) -> None:
    assert parse_target(name).host == name


class TableResolver:
    """Answers from a fixed table, so no test ever sends a DNS query off this machine."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def __call__(self, host: str, family: Family) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return [ipaddress.ip_address(a) for a in self.table.get(host, [])]


async def test_literal_is_checked_against_the_policy() -> None:
    with pytest.raises(PolicyDenied, match="loopback"):
        await resolve(parse_target("127.0.0.1"), Family.AUTO, AddressPolicy())
    address = await resolve(parse_target("127.0.0.1"), Family.AUTO, LOOPBACK_OK)
    assert str(address) == "127.0.0.1"


async def test_literal_in_the_wrong_family_does_not_resolve() -> None:
    with pytest.raises(ResolveError):
        await resolve(parse_target("127.0.0.1"), Family.V6, LOOPBACK_OK)


async def test_mapped_literal_is_probed_as_ipv4() -> None:
    address = await resolve(parse_target("::ffff:127.0.0.1"), Family.AUTO, LOOPBACK_OK)
    assert str(address) == "127.0.0.1"


async def test_localhost_resolves_with_the_system_resolver_and_is_denied_by_default() -> None:
    with pytest.raises(PolicyDenied, match="^localhost resolves to 127.0.0.1, a loopback address$"):
        await resolve(parse_target("localhost"), Family.V4, AddressPolicy())
    assert str(await resolve(parse_target("localhost"), Family.V4, LOOPBACK_OK)) == "127.0.0.1"


async def test_a_denied_name_reads_as_one_sentence_whatever_the_reason() -> None:
    denying = AddressPolicy(allow=LOOPBACK_OK.allow, deny=(ipaddress.ip_network("127.0.0.2/32"),))
    resolver = TableResolver({"two.example": ["127.0.0.2"], "site.example": ["fec0::1"]})
    with pytest.raises(PolicyDenied, match="^two.example resolves to 127.0.0.2, which this server's policy denies$"):
        await resolve(parse_target("two.example"), Family.AUTO, denying, resolver=resolver)
    with pytest.raises(PolicyDenied, match="^site.example resolves to fec0::1, a site-local address$"):
        await resolve(parse_target("site.example"), Family.AUTO, denying, resolver=resolver)


async def test_every_address_of_a_name_is_checked() -> None:
    resolver = TableResolver({"mixed.example": ["127.0.0.1", "10.0.0.1"]})
    with pytest.raises(PolicyDenied, match="^mixed.example resolves to 10.0.0.1, a private address$"):
        await resolve(parse_target("mixed.example"), Family.AUTO, LOOPBACK_OK, resolver=resolver)


async def test_family_filters_the_answers() -> None:
    resolver = TableResolver({"dual.example": ["127.0.0.2", "::1"]})
    v6 = await resolve(parse_target("dual.example"), Family.V6, LOOPBACK_OK, resolver=resolver)
    assert str(v6) == "::1"
    with pytest.raises(ResolveError, match="IPv4"):
        await resolve(parse_target("v6only.example"), Family.V4, LOOPBACK_OK,
                      resolver=TableResolver({"v6only.example": ["::1"]}))


async def test_a_name_that_does_not_resolve() -> None:
    with pytest.raises(ResolveError, match="does not resolve"):
        await resolve(parse_target("nothing.example"), Family.AUTO, LOOPBACK_OK, resolver=TableResolver({}))


async def test_a_slow_resolver_times_out() -> None:
    import asyncio

    async def never(host: str, family: Family) -> list[ipaddress.IPv4Address]:
        await asyncio.Event().wait()
        return []

    with pytest.raises(ResolveError, match="within"):
        await resolve(parse_target("slow.example"), Family.AUTO, LOOPBACK_OK, resolver=never, timeout=0.05)
