"""Asking a node (webtrace.nodes.client): the request as the node's URL says, and an
answer that cannot cost the front more than its own part, whatever the node sends."""

from __future__ import annotations

import asyncio
import errno
import socket
import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers import collect, eventually, eventually_async, fake_node
from tests.nodes.test_fanout import by_node, front
from webtrace.nodes.client import HIGH_WATER, LINES_KEPT, CannotConnect, Endpoint, TooLong, _request_line, ask
from webtrace.settings import NodeSpec

PING = {"target": "127.0.0.1", "nodes": "all"}


def test_a_request_says_what_the_node_s_url_does() -> None:
    endpoint = Endpoint.of("http://lg:p%40ss@[::1]:8080/looking%20glass")
    assert (endpoint.host, endpoint.port, endpoint.tls) == ("::1", 8080, False)
    assert endpoint.request("/api/v1/ping", {"target": "a b&c", "count": "3"}, {"X-Forwarded-For": "192.0.2.7"}) == (
        b"GET /looking%20glass/api/v1/ping?target=a+b%26c&count=3 HTTP/1.1\r\n"
        b"Host: [::1]:8080\r\nUser-Agent: webtrace\r\nConnection: close\r\n"
        b"Authorization: Basic bGc6cEBzcw==\r\n"  # lg:p@ss
        b"X-Forwarded-For: 192.0.2.7\r\n\r\n")


def test_a_request_asked_again_carries_its_own_visitor_and_query() -> None:
    endpoint = Endpoint.of("http://127.0.0.1:8080")
    for visitor in ("192.0.2.7", "192.0.2.8"):  # the line is kept, the visitor is each one's own
        assert endpoint.request("/api/v1/ping", {"target": "127.0.0.1"}, {"X-Forwarded-For": visitor}) == (
            b"GET /api/v1/ping?target=127.0.0.1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: webtrace\r\n"
            b"Connection: close\r\nX-Forwarded-For: " + visitor.encode() + b"\r\n\r\n")
    assert endpoint.request("/api/v1/ping", {"target": "127.0.0.2"}, {}).startswith(
        b"GET /api/v1/ping?target=127.0.0.2 HTTP/1.1\r\n")
    assert endpoint.request("/api/v1/mtr", {"target": "127.0.0.1"}, {}).startswith(
        b"GET /api/v1/mtr?target=127.0.0.1 HTTP/1.1\r\n")
    for n in range(LINES_KEPT + 1):
        endpoint.request("/api/v1/ping", {"target": f"127.0.{n // 250}.{n % 250 + 1}"}, {})
    assert _request_line.cache_info().currsize == LINES_KEPT


def test_an_https_node_by_an_international_name_is_asked_by_its_ascii_one() -> None:
    endpoint = Endpoint.of("https://bücher.example/")
    assert (endpoint.host, endpoint.port, endpoint.tls) == ("xn--bcher-kva.example", 443, True)
    assert endpoint.request("/api/v1/nodes", {}, {}).startswith(
        b"GET /api/v1/nodes HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n")


def test_why_a_connection_failed_reads_as_a_sentence() -> None:
    assert str(CannotConnect(ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('::1', 9)"))) \
        == "cannot connect (connection refused)"
    assert str(CannotConnect(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))) \
        == "cannot connect (name or service not known)"


async def test_reading_a_flooding_node_pauses_while_its_part_is_not_taking_it() -> None:
    with fake_node("faulty_node.py", "flood") as flooder:
        answer = await ask(Endpoint.of(flooder.url), "/api/v1/ping", {}, {}, connect_timeout=3, silence=10)
        async with answer:
            assert answer.status == 200
            # Nothing is taken: the front reads on until it has HIGH_WATER waiting, then stops.
            assert await eventually(lambda: answer.buffered > HIGH_WATER, timeout=10)
            filled = answer.buffered
            assert not await eventually(lambda: answer.buffered > filled + 512 * 1024, timeout=1)
            # Taken, it reads on.
            taken = 0
            while taken <= 4 * HIGH_WATER:
                taken += len(await answer.chunk())
            assert answer.buffered <= HIGH_WATER + 512 * 1024


@pytest.mark.parametrize(("mode", "why"), [
    ("endless-head", "it answered with a head too long to be one"),
    ("not-http", "it answered with what is not HTTP"),
])
async def test_a_node_that_does_not_answer_in_http_ends_its_part_alone(
    make_client: Any, make_settings: Any, mode: str, why: str
) -> None:
    with fake_node("faulty_node.py", mode) as odd:
        client = await front(make_client, make_settings, NodeSpec("odd", odd.url))
        events = await collect(await client.get("/api/v1/ping", params=PING), timeout=15)
    parts = by_node(events)
    assert parts["odd"][-1].data["status"] == "unavailable"
    assert parts["odd"][-1].data["message"] == f"Node odd is unavailable: {why}"
    assert parts["lon1"][-1].data["status"] == "ok"


def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by openssl."""
    cert, key = tmp_path / "node.pem", tmp_path / "node.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=node",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


async def test_a_node_over_https_is_asked_over_tls(
    make_client: Any, make_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the system's trust, as an operator's own CA would be
    with fake_node("faulty_node.py", "stale", str(cert), str(key), scheme="https") as secure:
        client = await front(make_client, make_settings, NodeSpec("secure", secure.url))
        assert await eventually_async(lambda: _up(client, "secure"), timeout=10)
        events = await collect(await client.get("/api/v1/ping", params={**PING, "nodes": "secure"}), timeout=10)
    # Its own refusal, read through TLS.
    assert by_node(events)["secure"][-1].data["code"] == "fresh_connection"


async def test_a_node_whose_certificate_is_not_trusted_is_not_asked(
    make_client: Any, make_settings: Any, tmp_path: Path
) -> None:
    cert, key = certificate(tmp_path)
    with fake_node("faulty_node.py", "stale", str(cert), str(key), scheme="https") as untrusted:
        client = await front(make_client, make_settings, NodeSpec("shady", untrusted.url))
        events = await collect(await client.get("/api/v1/ping", params={**PING, "nodes": "shady"}), timeout=10)
    end = by_node(events)["shady"][-1].data
    assert end["status"] == "unavailable"
    assert end["message"] == "Node shady is unavailable: cannot connect (TLS: certificate verify failed)"


async def _up(client: Any, name: str) -> bool:
    nodes = (await (await client.get("/api/v1/nodes")).json())["nodes"]
    return any(node["name"] == name and node["up"] for node in nodes)


async def test_an_unreachable_node_costs_its_part_a_sentence() -> None:
    with pytest.raises(CannotConnect, match=r"^cannot connect \(connection refused\)$"):
        await asyncio.wait_for(ask(Endpoint.of("http://127.0.0.1:9"), "/api/v1/nodes", {}, {},
                                   connect_timeout=3, silence=3), 10)


async def test_a_node_that_never_accepts_costs_its_part_the_connect_timeout_and_a_sentence() -> None:
    with fake_node("faulty_node.py", "full") as full:
        task = asyncio.current_task()
        assert task is not None
        with pytest.raises(CannotConnect, match=r"^cannot connect \(no answer within 0\.5 s\)$"):
            await asyncio.wait_for(ask(Endpoint.of(full.url), "/api/v1/nodes", {}, {},
                                       connect_timeout=0.5, silence=30), 10)
        assert task.cancelling() == 0  # the timeout's own cancel is not left for whatever comes next


async def test_a_part_that_leaves_while_connecting_is_cancelled_not_timed_out() -> None:
    with fake_node("faulty_node.py", "full") as full:
        port = int(full.url.rsplit(":", 1)[1])
        asking = asyncio.create_task(ask(Endpoint.of(full.url), "/api/v1/nodes", {}, {},
                                         connect_timeout=5, silence=30))
        assert await eventually(lambda: _connecting_to(port), timeout=5)
        asking.cancel()  # the visitor leaves
        with pytest.raises(asyncio.CancelledError):
            await asking
        assert not _connecting_to(port)  # nothing left behind


def _connecting_to(port: int) -> bool:
    return any(c.status == psutil.CONN_SYN_SENT and c.raddr and c.raddr[1] == port
               for c in psutil.Process().net_connections(kind="tcp"))


async def test_a_silence_shorter_than_the_connect_timeout_is_still_kept() -> None:
    with fake_node("faulty_node.py", "silent") as silent:
        answer = await asyncio.wait_for(ask(Endpoint.of(silent.url), "/api/v1/ping", {}, {},
                                            connect_timeout=30, silence=0.5), 10)
        async with answer:
            assert await asyncio.wait_for(answer.chunk(), 10)  # its start
            # Not wait_for: its own timeout would read as the silence's.
            reading = asyncio.ensure_future(answer.chunk())
            done, _ = await asyncio.wait([reading], timeout=10)
            assert reading in done and isinstance(reading.exception(), TimeoutError)


async def test_an_answer_still_coming_at_its_deadline_ends_there_however_it_trickles() -> None:
    with fake_node("lying_node.py", "trickle") as trickler:  # a byte every half second: never silent
        loop = asyncio.get_running_loop()
        began = loop.time()
        answer = await asyncio.wait_for(ask(Endpoint.of(trickler.url), "/api/v1/ping", {}, {},
                                            connect_timeout=3, silence=30, deadline=1.5), 10)
        async with answer:
            assert answer.status == 200
            with pytest.raises(TooLong, match=r"^it did not end within 1\.5 s$"):
                # Not wait_for: its own timeout would read as the deadline's.
                reading = asyncio.ensure_future(_drain(answer))
                done, _ = await asyncio.wait([reading], timeout=10)
                assert reading in done
                reading.result()
        assert 1.5 <= loop.time() - began < 5


async def _drain(answer: Any) -> None:
    while await answer.chunk():
        pass


async def test_a_deadline_that_passes_while_connecting_ends_the_asking_too() -> None:
    with fake_node("faulty_node.py", "full") as full:
        task = asyncio.current_task()
        assert task is not None
        with pytest.raises(TooLong, match=r"^it did not end within 0\.5 s$"):
            await asyncio.wait_for(ask(Endpoint.of(full.url), "/api/v1/nodes", {}, {},
                                       connect_timeout=30, silence=30, deadline=0.5), 10)
        assert task.cancelling() == 0  # the watch's own cancel is not left for whatever comes next


async def test_a_crowd_s_parts_share_one_lookup_of_a_node_s_name() -> None:
    endpoint = Endpoint.of("http://localhost:9")  # /etc/hosts: no resolver is asked
    first, *others = await asyncio.gather(*(endpoint.addresses() for _ in range(50)))
    assert ("127.0.0.1", 9) in [info[4][:2] for info in first]
    assert all(other is first for other in others)
    assert await endpoint.addresses() is first  # and the next part, within ADDRESSES_TTL_S
