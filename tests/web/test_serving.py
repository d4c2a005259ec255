"""What the server answers before the application sees a request: a real server
process, and requests it cannot parse, sent byte by byte as a stranger would."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.server import running_server, stopped

UNPARSABLE = [
    b"GE T / HTTP/1.1\r\nHost: x\r\n\r\n",  # a malformed request line
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",  # a header over 8190 bytes
    b"GET /\x00a HTTP/1.1\r\nHost: x\r\n\r\n",  # a NUL in the path
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # TLS spoken to plain HTTP
]


async def ask_raw(socket_path: Path, data: bytes) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(socket_path))
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


@pytest.mark.slow
async def test_item_10_answers_aiohttp_writes_itself_name_no_version(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        for request in UNPARSABLE:
            answer = await ask_raw(tmp_path / "webtrace.sock", request)
            head, _, body = answer.partition(b"\r\n\r\n")
            headers = head.decode("latin-1").split("\r\n")
            assert headers[0].endswith("400 Bad Request"), answer
            assert "Server: webtrace" in headers and "X-Content-Type-Options: nosniff" in headers, headers
            assert body == b"400 Bad Request\n", body  # no parser detail, nothing of the request quoted back
        healthy = await server.session.get(f"{server.base}/healthz")
        assert healthy.status == 200 and healthy.headers["Server"] == "webtrace"
        assert await stopped(server) == 0
    log = server.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log and "aiohttp/" not in log, log
    assert log.count("status=400") == len(UNPARSABLE)  # each still in the access log
