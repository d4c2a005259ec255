"""Hostile input: every target gets its documented status and no process is started.

The default address policy is in force (loopback denied). Names resolve through
a table (and /etc/hosts for localhost), so no DNS query leaves this machine.
"""

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import collect, runs_started
from tests.resolvers import TableResolver

BAD_REQUEST = [
    # option injection
    "-f", "--help", "-c 100000", "-c100000", "127.0.0.1 -c 5", "-", "--", "-6 ::1",
    # shell metacharacters and command substitution
    "; id", "a;b", "$(id)", "`id`", "a|b", "a&&b", "a>b", "a<b", "$HOME", "'quoted'", '"q"',
    "a\\b", "*", "?", "!", "{a,b}", "a b", "~root",
    # CR/LF/NUL, raw and percent-encoded text, tabs
    "example.net\r\nX-Injected: 1", "\r\n", "exa\nmple.net", "exa\x00mple.net", "%00", "example.net%0d%0a",
    "a\tb",
    # Unicode: bidi controls, zero-width, full-width digits that fold to an odd IPv4
    "\u202eexample.net", "exa\u200dmple.net", "\u200b", "\uff11\uff12\uff17.\uff10.\uff10.\uff11",
    "127\u30020\u30020\u30021",
    # lengths
    "a" * 64 + ".example", "x." * 127 + "example", "a" * 1100,
    # IPv6 with zone ids and ports, IPv4 with ports
    "fe80::1%eth0", "fe80::1%25eth0", "[::1]:80", "192.0.2.1:80", "::ffff:999.0.0.1", ":::", "1::2::3",
    # IPv4 in odd notations
    "0x7f000001", "017700000001", "127.1", "2130706433", "0x7f.0.0.1", "1.1.1.1.1", "256.0.0.1", "127.000.000.001",
    # URLs that are not http(s), or have no host
    "ftp://example.net", "javascript:alert(1)", "file:///etc/passwd", "http://", "http://:80/",
    # empty, whitespace-only, and other non-names
    "", "   ", "\t", ".", "..", "example..net", "_srv.example", "exa_mple.net", "-example.net",
]

DENIED = [
    "127.0.0.1", "127.255.255.254", "localhost", "::1", "[::1]", "10.0.0.1", "192.168.1.1", "172.16.0.1",
    "100.64.0.1", "169.254.169.254", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::ffff:127.0.0.1",
    "::ffff:10.0.0.1", "2002:7f00:1::1", "2002:c0a8:101::1", "64:ff9b::a00:1", "64:ff9b::127.0.0.1",
    "fe80::1", "fd00::1", "ff02::1", "::", "192.0.2.1", "2001:db8::1", "198.18.0.1",
    "http://127.0.0.1/", "http://[::1]:8080/x", "https://localhost/", "rebind.example", "mixed.example",
]

UNRESOLVABLE = ["nonexistent.example", "g\u043e\u043egle.example", "\u0440\u0430ypal.example", "bücher.example"]

RESOLVER = TableResolver({"rebind.example": ["10.0.0.5"], "mixed.example": ["10.0.0.5", "127.0.0.1"]})
CORPUS = [(t, 400) for t in BAD_REQUEST] + [(t, 403) for t in DENIED] + [(t, 422) for t in UNRESOLVABLE]


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 60


@pytest.fixture
async def hostile_client(
    make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_tool: Callable[..., Path],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Any]:
    # The tools are recorders: even a policy bug could not send a probe anywhere.
    record = tmp_path / "started"
    monkeypatch.setenv("WEBTRACE_TEST_RECORD", str(record))
    for tool in ("ping", "traceroute", "mtr"):
        fake_tool(tool, "recorder.py")
    settings = make_settings(allow_networks=(), ratelimit="100000/minute")
    yield await make_client(settings, resolver=RESOLVER)
    assert not record.exists(), f"a tool was started: {record.read_text()}"


@pytest.mark.parametrize(("target", "status"), CORPUS)
async def test_each_target_gets_its_status_and_starts_nothing(hostile_client: Any, target: str, status: int) -> None:
    api = await hostile_client.get("/api/v1/mtr", params={"target": target})
    assert api.status == (400 if not target.strip(" \t") else status), await api.text()
    body = await api.json()
    assert body["error"]["message"]
    text = await hostile_client.get("/trace", params={"target": target})
    assert text.status == api.status
    assert (await text.text()).startswith("ERROR: ")
    app = hostile_client.server.app
    assert runs_started(app) == 0
    assert (await hostile_client.get("/healthz")).status == 200


@pytest.mark.parametrize(
    ("path", "query", "status"),
    [
        ("/api/v1/nmap", "target=192.0.2.1", 404),
        ("/api/v1/..%2f..%2fbin%2fsh", "target=192.0.2.1", 404),
        ("/api/v1/ping", "target=192.0.2.1&family=5", 400),
        ("/api/v1/ping", "target=192.0.2.1&family=", 403),
        ("/api/v1/ping", "target=192.0.2.1&family=%00", 400),
        ("/ping", "target=192.0.2.1&aftype=inet6", 400),
        ("/ping", "target=192.0.2.1&aftype=ipv4&aftype=ipv6", 400),
        ("/api/v1/ping", "target=a.example&target=b.example", 400),
        ("/api/v1/ping", "target=" + "a" * 5000, 400),
        ("/api/v1/ping", "target=x&pad=" + "a" * 20000, 400),
        ("/api/v1/ping", "target=%ff%fe", 400),
    ],
)
async def test_bad_parameters(hostile_client: Any, path: str, query: str, status: int) -> None:
    resp = await hostile_client.get(f"{path}?{query}")
    assert resp.status == status
    assert runs_started(hostile_client.server.app) == 0
    assert (await hostile_client.get("/healthz")).status == 200


@pytest.mark.parametrize("tool", ["ping", "traceroute"])
async def test_lines_no_parser_can_read_never_cut_the_stream(
    make_client: Callable[..., Any], fake_tool: Callable[..., Path], tool: str
) -> None:
    fake_tool(tool, "garbled.py")
    client = await make_client()
    events = await collect(await client.get(f"/api/v1/{tool}", params={"target": "127.0.0.1"}))
    assert events[-1].event == "end" and events[-1].data["status"] == "ok"
    assert sum(e.event == "line" for e in events) == 9  # every line, read or not
    route = {"ping": "/ping", "traceroute": "/trace"}[tool]
    resp = await client.get(route, params={"target": "127.0.0.1"})
    assert resp.status == 200
    text = await resp.text()
    assert text.count("\n") == 9 and "1.2.3 ms" in text


async def test_text_routes_show_control_characters_escaped(
    make_client: Callable[..., Any], fake_tool: Callable[..., Path]
) -> None:
    fake_tool("ping", "garbled.py")
    client = await make_client()
    text = await (await client.get("/ping", params={"target": "127.0.0.1"})).text()
    # Nothing a terminal would act on; tab is kept.
    assert not [c for c in text if (ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F]
    assert "bell\\x07 escape \\x1b[2J\\x1b]0;title\\x07 nul\\x00 del\\x7f csi\\x9b tab\tend\n" in text
    # No tool line can begin with webtrace's own trailer words.
    assert "innocent line\\x0dERROR: forged trailer\n" in text
    assert not [line for line in text.splitlines() if line.startswith(("ERROR:", "TIMEOUT:"))]
    assert " ERROR: a tool line that looks like the trailer\n" in text
    # The SSE stream carries the tool's own text: JSON escapes it, the page shows it as text.
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"}))
    assert any(e.data.get("text", "").startswith("bell\x07 escape \x1b[2J") for e in events)
