"""Addresses: the one normalisation and the one "is it in these networks"."""

from __future__ import annotations

import ipaddress

import pytest

from webtrace.net.addresses import in_networks, normalise, parse_address, parse_networks


def test_parse_networks() -> None:
    assert [str(n) for n in parse_networks(" 127.0.0.1/8, ::1/128 ,")] == ["127.0.0.0/8", "::1/128"]
    with pytest.raises(ValueError):
        parse_networks("not a network")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("198.51.100.7", "198.51.100.7"),
        (" [2001:db8::1] ", "2001:db8::1"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("fe80::1%eth0", "fe80::1"),
        ("2001:db8::1%x status=500", "2001:db8::1"),
        ("garbage", None),
        ("", None),
    ],
)
def test_parse_address(text: str, expected: str | None) -> None:
    parsed = parse_address(text)
    assert (None if parsed is None else str(parsed)) == expected


def test_normalise_and_in_networks() -> None:
    mapped = ipaddress.ip_address("::ffff:127.0.0.1")
    assert normalise(mapped) == ipaddress.ip_address("127.0.0.1")
    assert normalise(ipaddress.ip_address("2002:7f00:1::1")) == ipaddress.ip_address("2002:7f00:1::1")
    loopback = parse_networks("127.0.0.0/8,::1/128")
    assert in_networks(ipaddress.ip_address("127.0.0.9"), loopback)
    assert in_networks(ipaddress.ip_address("::1"), loopback)
    assert not in_networks(ipaddress.ip_address("2002:7f00:1::1"), loopback)
