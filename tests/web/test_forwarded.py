import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import collect
from webtrace.web.forwarded import UNIX_PEER, client_ip

TRUSTED = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8"))


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("192.0.2.1", [], "192.0.2.1"),
        ("192.0.2.1", ["198.51.100.9"], "192.0.2.1"),  # untrusted peer: header ignored
        ("127.0.0.1", ["198.51.100.9"], "198.51.100.9"),
        ("127.0.0.1", ["203.0.113.5, 198.51.100.9"], "198.51.100.9"),  # right-most untrusted
        ("127.0.0.1", ["198.51.100.9, 10.1.1.1"], "198.51.100.9"),  # skip trusted hops
        ("127.0.0.1", ["198.51.100.9", "10.1.1.1"], "198.51.100.9"),  # several headers
        ("127.0.0.1", ["garbage, 198.51.100.9"], "198.51.100.9"),
        ("127.0.0.1", ["198.51.100.9, garbage"], "127.0.0.1"),  # unparseable: stop at the proxy
        ("127.0.0.1", ["10.0.0.1"], "10.0.0.1"),  # all trusted: the left-most
        ("127.0.0.1", ["[2001:db8::1]"], "2001:db8::1"),
        ("127.0.0.1", ["::ffff:198.51.100.9"], "198.51.100.9"),
        (None, ["198.51.100.9"], "198.51.100.9"),  # unix socket: trusted
        (None, [], UNIX_PEER),
        ("::ffff:127.0.0.1", ["198.51.100.9"], "198.51.100.9"),
    ],
)
def test_client_ip(peer: str | None, xff: list[str], expected: str) -> None:
    assert client_ip(peer, xff, TRUSTED) == expected


async def test_a_spoofed_header_from_an_untrusted_peer_changes_nothing(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    # The test client connects from 127.0.0.1; here nothing is trusted.
    client = await make_client(make_settings(trusted_proxies=(), ratelimit="2/minute"))
    for spoofed in ("198.51.100.1", "198.51.100.2"):
        resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1"}, headers={"X-Forwarded-For": spoofed})
        await collect(resp)
    resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1"}, headers={"X-Forwarded-For": "198.51.100.3"})
    assert resp.status == 429  # all three were the same client: 127.0.0.1


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("127.0.0.1", ["2001:db8::1%x status=500"], "2001:db8::1"),
        ("127.0.0.1", ["[2001:db8::1%eth0]"], "2001:db8::1"),
        ("fe80::1%eth0", [], "fe80::1"),
    ],
)
def test_the_client_is_an_address_without_a_scope_id(peer: str, xff: list[str], expected: str) -> None:
    assert client_ip(peer, xff, TRUSTED) == expected
