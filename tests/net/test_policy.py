import ipaddress
import subprocess
import sys

import pytest

from webtrace.net.addresses import normalise
from webtrace.net.policy import AddressPolicy, PolicyDenied, embedded_ipv4


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("0.0.0.0", "'this network'"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("127.0.0.1", "loopback"),
        ("169.254.1.1", "link-local"),
        ("192.0.0.8", "IETF"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.1", "documentation"),
        ("203.0.113.1", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("2001:2::1", "benchmarking"),
        ("100::1", "discard"),
        ("::ffff:192.168.1.1", "IPv6 form of 192.168.1.1, a private address"),
        ("2002:c0a8:0101::1", "IPv6 form of 192.168.1.1, a private address"),
        ("2002:7f00:1::1", "IPv6 form of 127.0.0.1, a loopback"),
        ("64:ff9b::10.0.0.1", "IPv6 form of 10.0.0.1, a private address"),
        ("64:ff9b::127.0.0.1", "loopback"),
        ("64:ff9b:1::1", "NAT64"),
        ("::127.0.0.1", "IPv4-compatible"),
    ],
)
def test_special_purpose_addresses_are_denied_with_a_reason(address: str, why: str) -> None:
    with pytest.raises(PolicyDenied, match=why):
        AddressPolicy().check(ipaddress.ip_address(address))


def test_allow_list_widens_and_deny_list_narrows() -> None:
    policy = AddressPolicy(
        allow=(ipaddress.ip_network("192.0.2.0/24"),),
        deny=(ipaddress.ip_network("192.0.2.128/25"),),
    )
    policy.check(ipaddress.ip_address("192.0.2.1"))
    with pytest.raises(PolicyDenied, match="policy"):
        policy.check(ipaddress.ip_address("192.0.2.200"))


def test_deny_list_reaches_embedded_forms() -> None:
    # 192.0.2.0/24 allowed for the test; its 6to4 form follows the IPv4 verdict.
    policy = AddressPolicy(deny=(ipaddress.ip_network("192.0.2.0/24"),))
    with pytest.raises(PolicyDenied, match="policy denies"):
        policy.check(ipaddress.ip_address("2002:c000:0201::1"))


def test_normalise_and_embedded() -> None:
    assert str(normalise(ipaddress.ip_address("::ffff:127.0.0.1"))) == "127.0.0.1"
    assert str(embedded_ipv4(ipaddress.IPv6Address("64:ff9b::c000:201"))) == "192.0.2.1"
    assert embedded_ipv4(ipaddress.IPv6Address("2001:db8::1")) is None


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "64:ff9b::127.0.0.1", "2002:7f00:1::1", "2002:c000:201::1"])
def test_an_allowed_network_does_not_allow_its_translated_forms(address: str) -> None:
    policy = AddressPolicy(allow=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("192.0.2.0/24")))
    policy.check(ipaddress.ip_address("127.0.0.1"))
    policy.check(ipaddress.ip_address("192.0.2.1"))
    with pytest.raises(PolicyDenied, match="IPv6 form of"):
        policy.check(ipaddress.ip_address(address))


def test_a_translated_form_may_be_allowed_by_writing_it() -> None:
    policy = AddressPolicy(allow=(ipaddress.ip_network("2002:7f00::/24"),))
    policy.check(ipaddress.ip_address("2002:7f00:1::1"))


def test_the_policy_is_usable_without_the_web_server() -> None:
    # The rooms below web/ never import aiohttp: not directly, nor through the package.
    code = "import sys, webtrace.net.policy, webtrace.process.runner, webtrace.parsers, webtrace.runs.source, " \
           "webtrace.formats.text; print(sorted(m for m in sys.modules if m.split('.')[0].startswith('aiohttp')))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
