"""The sinks: the SSE sink and the text sink each take either kind of source (a run
here, a run from several nodes), and record it for its result in one place, so a
result holds exactly what its visitor was sent."""

from __future__ import annotations

import dataclasses
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import LOOPBACK_SETTINGS
from tests.helpers import collect, eventually
from tests.server import server_process
from webtrace.events import Event
from webtrace.web.keys import RESULTS
from webtrace.web.sinks import sse_frame

SETTINGS = dataclasses.replace(LOOPBACK_SETTINGS, results="memory://", node_name="lon1")


@pytest.mark.parametrize("nodes", [None, "all"], ids=["here", "several"])
async def test_the_sse_sink_sends_what_it_records(make_client: Any, nodes: str | None) -> None:
    client = await make_client(SETTINGS)
    params = {"target": "127.0.0.1", **({"nodes": nodes} if nodes else {})}
    events = await collect(await client.get("/api/v1/ping", params=params))
    result_id = events[0].data["result"]
    assert result_id and all(e.data["result"] == result_id for e in events if e.event == "start")
    await eventually(lambda: result_id not in client.app[RESULTS].live, 5)
    stored = await (await client.get(f"/api/v1/results/{result_id}")).json()
    assert [(int(e.id or 0), e.event, e.data) for e in events] == [
        (e["id"], e["event"], e["data"]) for e in stored["events"]]
    assert events[-1].event == ("done" if nodes else "end")


@pytest.mark.parametrize("nodes", [None, "all"], ids=["here", "several"])
async def test_the_text_sink_prints_what_its_result_prints_again(make_client: Any, nodes: str | None) -> None:
    client = await make_client(SETTINGS)
    params = {"target": "127.0.0.1", **({"nodes": nodes} if nodes else {})}
    resp = await client.get("/mtr", params=params)
    printed = await resp.text()
    result_id = resp.headers["Link"].split("/")[1].split(">")[0]
    await eventually(lambda: result_id not in client.app[RESULTS].live, 5)
    again = await (await client.get(f"/api/v1/results/{result_id}", params={"format": "text"})).text()
    assert printed == again and "HOST: lon1" in printed
    assert all(line.startswith("[lon1] ") for line in printed.splitlines()) == bool(nodes)


def _writes(trace: str) -> list[str]:
    """Each system call strace saw writing to the stream's connection (the one its headers went on)."""
    calls = [line for line in trace.splitlines() if _WRITE.match(line)]
    headers = next(line for line in calls if "HTTP/1.1 200 OK" in line)
    fd = _WRITE.match(headers).group(1)  # type: ignore[union-attr]
    return [line for line in calls if _WRITE.match(line).group(1) == fd]  # type: ignore[union-attr]


_WRITE = re.compile(r"^\d+\s+(?:write|writev|sendmsg|sendto)\((\d+), ")


@pytest.mark.parametrize("nodes", [None, "all"], ids=["here", "several"])
async def test_a_run_is_written_with_its_headers_in_its_first_write_and_its_end_in_the_last(
        tmp_path: Path, nodes: str | None) -> None:
    # A system call (and a packet) for the headers alone, and another for the response's end,
    # were two of a 5-probe ping's nine writes; from several nodes, the last part's end was
    # another, before done's.
    env = {"WEBTRACE_RESULTS": "off", "WEBTRACE_PINGCOUNT": "2", "WEBTRACE_NODE_NAME": "lon1"}
    params = {"target": "127.0.0.1", **({"nodes": nodes} if nodes else {})}
    with server_process(tmp_path, env) as server:
        out = tmp_path / "trace"
        tracer = subprocess.Popen(["strace", "-f", "-qq", "-s", "65536", "-e", "trace=write,writev,sendmsg,sendto",
                                   "-o", str(out), "-p", str(server.process.pid)])
        try:
            assert await eventually(lambda: _traced(server.process.pid), 10)
            async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(server.socket))) as http:
                events = await collect(await http.get(f"{server.base}/api/v1/ping", params=params))
        finally:
            tracer.send_signal(signal.SIGINT)  # it detaches, and the server goes on
            tracer.wait(10)
    assert events[0].event == "start" and [e.event for e in events[-2 if nodes else -1:]] == (
        ["end", "done"] if nodes else ["end"])
    writes = _writes(out.read_text())
    # strace shows CR and LF escaped: the end event's chunk, then the response's last chunk.
    assert "event: end" in writes[-1] and '\\r\\n0\\r\\n\\r\\n"' in writes[-1], writes[-1]
    if nodes:
        assert "event: done" in writes[-1]
        # The headers do not wait for the parts, which may be far: they leave by the next turn,
        # with a part's start if one came by then, or alone.
        if "event: " not in writes[0]:
            writes = writes[1:]
    assert "event: start" in writes[0]
    assert all("event: " in w for w in writes), writes  # none for the headers or the end alone


def _traced(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    return re.search(r"^TracerPid:\s+[1-9]", status, re.MULTILINE) is not None


def test_a_frame_of_a_kind_this_server_does_not_know_is_framed_alike() -> None:
    # A result in a store shared with a newer server may hold kinds this one never sends.
    assert sse_frame(7, Event("line", {"text": "a"})) == b'id: 7\r\nevent: line\r\ndata: {"text":"a"}\r\n\r\n'
    newer = Event("jitter", {})  # type: ignore[arg-type]
    assert sse_frame(8, newer, b'{"ms":1}') == b'id: 8\r\nevent: jitter\r\ndata: {"ms":1}\r\n\r\n'
