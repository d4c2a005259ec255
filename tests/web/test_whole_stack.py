"""Whole-stack tests: the real tools on loopback through the HTTP API and the text routes, every room in between."""

import asyncio
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SSE, collect, eventually, group_members, runs_started, sse_events, tool_processes
from webtrace.web.keys import RUNNER
from webtrace.web.metrics import METRICS
from webtrace.net.addresses import parse_networks


@pytest.fixture
def gated(fake_tool: Callable[..., Path], tmp_path: Path) -> Callable[[str], Path]:
    """Install ``gated.py`` as a tool: it prints a line for each line written to the gate."""

    def install(tool: str) -> Path:
        gate = tmp_path / "gate"
        os.mkfifo(gate)
        fake_tool(tool, "gated.py", {"WEBTRACE_TEST_GATE": str(gate)})
        return gate

    return install


def kinds(events: list[SSE]) -> list[str]:
    return [e.event for e in events]


def of(events: list[SSE], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.event == kind]


async def test_ping_stream_has_every_event_in_order(client: Any) -> None:
    resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["X-Accel-Buffering"] == "no"
    events = await collect(resp)
    assert events[0].event == "start" and events[-1].event == "end"
    assert [int(e.id) for e in events] == list(range(1, len(events) + 1))  # type: ignore[arg-type]
    start = events[0].data
    result = start.pop("result")
    assert start == {
        "tool": "ping", "target": "127.0.0.1", "address": "127.0.0.1", "family": "4",
        "protocol": "icmp", "port": None, "count": 3, "command": "ping -n -O -c 3 -i 0.2 -4 127.0.0.1",
    }
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", result)  # 128 random bits, URL-safe
    assert [r["seq"] for r in of(events, "reply")] == [1, 2, 3]
    assert of(events, "progress")[-1] == {"done": 3, "total": 3}
    assert of(events, "summary")[-1]["received"] == 3
    assert any(line["text"].startswith("64 bytes from 127.0.0.1") for line in of(events, "line"))
    end = events[-1].data
    assert end["status"] == "ok" and end["exit_code"] == 0 and end["message"] == "ping finished"
    assert end["duration_s"] > 0


async def test_ping_ipv6(client: Any) -> None:
    events = await collect(await client.get("/api/v1/ping", params={"target": "::1", "family": "6"}))
    assert events[0].data["address"] == "::1" and events[0].data["family"] == "6"
    assert of(events, "reply")[0]["host"] == "::1"


async def test_traceroute_stream_has_hops(client: Any) -> None:
    events = await collect(await client.get("/api/v1/traceroute", params={"target": "localhost", "family": "4"}))
    assert events[0].data["target"] == "localhost" and events[0].data["address"] == "127.0.0.1"
    [hop] = of(events, "hop")
    assert hop["hop"] == 1 and hop["hosts"][0]["address"] == "127.0.0.1"
    assert events[-1].data["status"] == "ok"


async def test_mtr_stream_updates_the_hop_row_live(client: Any) -> None:
    events = await collect(await client.get("/api/v1/mtr", params={"target": "127.0.0.1"}))
    hops = of(events, "hop")
    assert len(hops) > 3  # the row is re-sent as probes come back
    last = hops[-1]
    assert last["hop"] == 1 and last["sent"] == 3 and last["received"] == 3
    assert set(last) >= {"hosts", "loss_pct", "last_ms", "avg_ms", "best_ms", "worst_ms", "stdev_ms"}
    assert of(events, "progress")[-1] == {"done": 3, "total": 3}
    assert kinds(events).index("hop") < kinds(events).index("end")


async def test_reconnect_with_last_event_id_runs_nothing(client: Any) -> None:
    resp = await client.get("/api/v1/mtr", params={"target": "127.0.0.1"}, headers={"Last-Event-ID": "7"})
    assert resp.status == 204
    assert tool_processes(os.getpid()) == []


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/api/v1/nmap", {"target": "127.0.0.1"}, 404, "unknown_tool"),
        ("/api/v1/ping", {}, 400, "bad_request"),
        ("/api/v1/ping", {"target": "-f"}, 400, "bad_request"),
        ("/api/v1/ping", {"target": "127.0.0.1", "family": "5"}, 400, "bad_request"),
        ("/api/v1/ping", {"target": "127.0.0.66"}, 403, "target_denied"),
        ("/api/v1/ping", {"target": "127.0.0.1", "family": "6"}, 422, "unresolvable"),
    ],
)
async def test_api_errors_are_json_and_start_nothing(
    make_client: Callable[..., Any], make_settings: Callable[..., Any],
    path: str, params: dict[str, str], status: int, code: str,
) -> None:
    client = await make_client(make_settings(deny_networks=parse_networks("127.0.0.66/32")))
    resp = await client.get(path, params=params)
    assert resp.status == status
    body = await resp.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    assert tool_processes(os.getpid()) == []


async def test_text_routes_stream_plain_lines(client: Any) -> None:
    resp = await client.get("/ping", params={"target": "127.0.0.1"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert resp.headers["X-Accel-Buffering"] == "no" and resp.headers["Cache-Control"] == "no-cache"
    text = await resp.text()
    assert text.startswith("PING 127.0.0.1")
    assert "ERROR" not in text and "event:" not in text
    trace = await (await client.get("/trace", params={"target": "::1", "aftype": "ipv6"})).text()
    assert trace.startswith("traceroute to ::1")
    mtr = await (await client.get("/mtr", params={"target": "127.0.0.1"})).text()
    assert re.search(r"^\s+1\.\|-- ", mtr, re.MULTILINE)  # mtr --report's table, not raw records


async def test_text_route_errors_match_the_original(client: Any) -> None:
    resp = await client.get("/mtr")
    assert resp.status == 400 and await resp.text() == "ERROR: No target specified\n"
    resp = await client.get("/ping", params={"target": "127.0.0.1", "aftype": "ipv5"})
    assert resp.status == 400 and (await resp.text()).startswith("ERROR: aftype")


async def test_text_route_reports_a_failed_tool(client: Any, fake_tool: Callable[..., Path]) -> None:
    fake_tool("ping", "bytes.py")
    text = await (await client.get("/ping", params={"target": "127.0.0.1"})).text()
    assert text.endswith("ERROR: ping exited with status 3\n")
    assert "caf\u00e9 \ufffd\ufffd broken\n" in text


async def test_timeout_ends_the_stream_and_the_tool(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    client = await make_client(make_settings(timeout=1.0, ping_count=100))
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"}))
    assert events[-1].data["status"] == "timeout"
    assert events[-1].data["message"] == "ping timed out after 1 s"
    text = await (await client.get("/ping", params={"target": "127.0.0.1"})).text()
    assert text.endswith("TIMEOUT: ping timed out after 1 s\n")
    assert tool_processes(os.getpid()) == []


async def test_client_leaving_mid_mtr_leaves_no_process(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    client = await make_client(make_settings(mtr_count=100))
    resp = await client.get("/api/v1/mtr", params={"target": "127.0.0.1"})
    async for event in sse_events(resp):
        if event.event == "hop":
            break
    procs = tool_processes(os.getpid())
    assert {p.name() for p in procs} >= {"mtr", "mtr-packet"}
    pgid = os.getpgid(procs[0].pid)
    resp.close()
    assert await eventually(lambda: group_members(pgid) == [], 1.0), "mtr outlived its client by 1 s"
    ok = await eventually(lambda: "status=\"cancelled\"" in _render_metrics(client), 2.0)
    assert ok, [line for line in _render_metrics(client).splitlines() if "runs_total" in line]


def _render_metrics(client: Any) -> str:

    app = client.server.app
    body, _ = app[METRICS].render(app[RUNNER].active)
    return body.decode()


async def test_headers_and_start_leave_before_the_tool_prints(client: Any, gated: Callable[[str], Path]) -> None:
    gate = gated("traceroute")
    resp = await client.get("/api/v1/traceroute", params={"target": "127.0.0.1"})
    assert resp.status == 200
    stream = sse_events(resp)
    first = await asyncio.wait_for(anext(stream), 5)
    assert first.event == "start"  # the tool has printed nothing yet: it waits on the gate
    with open(gate, "wb", buffering=0) as writer:
        writer.write(b"one\n")
        line = await asyncio.wait_for(anext(stream), 5)
        assert line.data == {"text": "released: one"}
    rest = await collect(resp)
    assert rest[-1].data["status"] == "ok"


async def test_idle_streams_receive_comment_pings(
    make_client: Callable[..., Any], gated: Callable[[str], Path]
) -> None:
    client = await make_client(sse_ping_interval=0.1)
    gated("traceroute")
    resp = await client.get("/api/v1/traceroute", params={"target": "127.0.0.1"})
    async with asyncio.timeout(5):
        async for raw in resp.content:
            if raw.startswith(b": ping"):
                break
    resp.close()


async def test_a_quiet_run_s_followers_receive_comment_pings_too(
    make_client: Callable[..., Any], make_settings: Callable[..., Any], gated: Callable[[str], Path]
) -> None:
    client = await make_client(make_settings(results="memory://"), sse_ping_interval=0.1)
    gated("traceroute")
    run = await client.get("/api/v1/traceroute", params={"target": "127.0.0.1"})
    start = await anext(sse_events(run))
    follower = await client.get(f"/api/v1/results/{start.data['result']}/events")
    assert (await anext(sse_events(follower))).event == "start"
    async with asyncio.timeout(5):
        async for raw in follower.content:
            if raw.startswith(b": ping"):
                break
    follower.close()
    run.close()


async def test_a_missing_tool_fails_alone(client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ping").symlink_to("/usr/bin/ping")
    monkeypatch.setenv("PATH", str(bin_dir))
    resp = await client.get("/api/v1/mtr", params={"target": "127.0.0.1"})
    assert resp.status == 503
    error = {"code": "tool_unavailable", "message": "mtr is not installed on this server"}
    assert (await resp.json())["error"] == error
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"}))
    assert events[-1].data["status"] == "ok"


async def test_long_lines_and_invalid_utf8_reach_the_client(client: Any, fake_tool: Callable[..., Path]) -> None:
    fake_tool("ping", "bytes.py")
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"}))
    lines = [e["text"] for e in of(events, "line")]
    assert lines == ["caf\u00e9 \ufffd\ufffd broken", "x" * (200 * 1024), "no newline at the end"]
    assert events[-1].data == {**events[-1].data, "status": "failed", "exit_code": 3,
                               "message": "ping exited with status 3"}


async def test_over_the_global_cap_is_503_at_once(
    make_client: Callable[..., Any], make_settings: Callable[..., Any], gated: Callable[[str], Path]
) -> None:
    gated("traceroute")
    client = await make_client(make_settings(max_jobs=1, max_jobs_per_client=1))
    first = await client.get("/api/v1/traceroute", params={"target": "127.0.0.1"})
    assert (await anext(sse_events(first))).event == "start"
    before = len(tool_processes(os.getpid()))
    second = await client.get("/api/v1/ping", params={"target": "127.0.0.1"}, headers={"X-Forwarded-For": "192.0.2.7"})
    assert second.status == 503 and second.headers["Retry-After"]
    assert (await second.json())["error"]["code"] == "busy"
    assert len(tool_processes(os.getpid())) == before
    first.close()


async def test_healthz_and_metrics(client: Any) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200 and await resp.text() == "ok"
    await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"}))
    metrics = await (await client.get("/metrics")).text()
    assert 'webtrace_runs_total{status="ok",tool="ping"} 1.0' in metrics
    assert "webtrace_active_runs 0.0" in metrics


async def test_check_answers_like_a_run_without_running(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    client = await make_client(make_settings(ratelimit="6/minute", deny_networks=parse_networks("127.0.0.66/32")))
    ok = await client.get("/api/v1/mtr/check", params={"target": "127.0.0.1"})
    assert ok.status == 204
    for params, status, code in (({"target": "-f"}, 400, "bad_request"),
                                 ({"target": "127.0.0.66"}, 403, "target_denied"),
                                 ({"target": "127.0.0.1", "family": "6"}, 422, "unresolvable")):
        resp = await client.get("/api/v1/ping/check", params=params)
        assert resp.status == status and (await resp.json())["error"]["code"] == code
    assert (await client.get("/api/v1/nmap/check", params={"target": "127.0.0.1"})).status == 404

    assert runs_started(client.server.app) == 0
    # Five checks spent no runs: all six runs of the budget are still there.
    for _ in range(6):
        resp = await client.get("/api/v1/traceroute", params={"target": "127.0.0.1"})
        assert resp.status == 200
        await collect(resp)
    limited = await client.get("/api/v1/ping/check", params={"target": "127.0.0.1"})
    assert limited.status == 429 and limited.headers["Retry-After"]
    assert (await limited.json())["error"]["code"] == "rate_limited"


async def test_checks_have_a_budget_of_their_own(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    client = await make_client(make_settings(ratelimit="3/minute"))
    statuses = [(await client.get("/api/v1/ping/check", params={"target": "127.0.0.1"})).status for _ in range(4)]
    assert statuses == [204, 204, 204, 429]
    resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1"})
    assert resp.status == 200  # the run budget is untouched
    await collect(resp)


async def test_a_client_that_stops_reading_does_not_hold_its_run(
    make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_tool: Callable[..., Path],
) -> None:
    fake_tool("ping", "flood.py")
    client = await make_client(make_settings(timeout=60), send_timeout=0.5)
    resp = await client.get("/ping", params={"target": "127.0.0.1"})  # and never read
    assert resp.status == 200
    assert await eventually(lambda: 'status="cancelled"' in _render_metrics(client), 10)
    assert client.server.app[RUNNER].active == 0
    resp.close()


@pytest.mark.parametrize("path", ["/api/v1/ping", "/api/v1/mtr/check", "/ping", "/trace", "/mtr"])
async def test_head_on_a_run_route_runs_nothing_and_keeps_the_connection_in_step(
    client: Any, fake_tool: Callable[..., Path], tmp_path: Path, path: str
) -> None:
    record = tmp_path / "started"
    for tool in ("ping", "traceroute", "mtr", "tracepath"):
        fake_tool(tool, "recorder.py", {"WEBTRACE_TEST_RECORD": str(record)})
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    # Two requests on one kept-alive connection: the second answer must be the
    # second request's, not output of a tool run for the first.
    writer.write(
        f"HEAD {path}?target=127.0.0.1 HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    async with asyncio.timeout(10):
        raw = await reader.read()
    writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405")
    assert b"\r\nAllow: GET\r\n" in head
    # The 405's body was not sent (HEAD); what follows is the /healthz answer.
    assert rest.startswith(b"HTTP/1.1 200"), rest[:200]
    assert rest.endswith(b"\r\n\r\nok")
    assert not record.exists()


async def test_a_tool_that_cannot_start_is_counted_and_ends_its_stream(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    broken = bin_dir / "ping"
    broken.write_text("#!/nonexistent/interpreter\n")  # found and executable, but exec fails
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"}))
    assert kinds(events) == ["start", "end"]
    assert events[-1].data["status"] == "failed" and "could not start" in events[-1].data["message"]
    text = await (await client.get("/ping", params={"target": "127.0.0.1"})).text()
    assert text.startswith("ERROR: ping could not start")
    metrics = await (await client.get("/metrics")).text()
    assert 'webtrace_runs_started_total{tool="ping"} 2.0' in metrics
    assert 'webtrace_runs_total{status="failed",tool="ping"} 2.0' in metrics


@pytest.mark.parametrize("target", ["64:ff9b::7f00:1", "2002:7f00:1::1"])
async def test_allowed_loopback_does_not_allow_its_translated_forms(
    client: Any, fake_tool: Callable[..., Path], tmp_path: Path, target: str
) -> None:
    record = tmp_path / "started"
    fake_tool("ping", "recorder.py", {"WEBTRACE_TEST_RECORD": str(record)})
    resp = await client.get("/api/v1/ping", params={"target": target})
    assert resp.status == 403
    assert "IPv6 form of 127.0.0.1" in (await resp.json())["error"]["message"]
    assert not record.exists()


@pytest.fixture
def listening() -> Any:
    """A TCP port that accepts, on both loopbacks; closed when the test ends."""
    v4 = socket.socket(socket.AF_INET)
    v4.bind(("127.0.0.1", 0))
    port = v4.getsockname()[1]
    v6 = socket.socket(socket.AF_INET6)
    v6.bind(("::1", port))
    for sock in (v4, v6):
        sock.listen()
    yield port
    v4.close()
    v6.close()


@pytest.mark.parametrize("target", ["127.0.0.1", "::1"])
@pytest.mark.parametrize(
    ("tool", "options", "flags"),
    [
        ("traceroute", {"protocol": "tcp"}, "-T -p {port}"),
        ("traceroute", {"protocol": "udp", "port": "53"}, "-U -p 53"),
        ("traceroute", {"protocol": "icmp"}, "-I"),
        ("mtr", {"protocol": "tcp", "count": "2"}, "--tcp -P {port} -c 2"),
        ("mtr", {"protocol": "udp", "port": "53"}, "--udp -P 53"),
        ("ping", {"count": "2"}, "-c 2"),
    ],
)
async def test_each_protocol_runs_for_real_and_is_echoed(
    client: Any, listening: int, target: str, tool: str, options: dict[str, str], flags: str
) -> None:
    options = {k: v if v != "{port}" else str(listening) for k, v in options.items()}
    if options.get("protocol") == "tcp" and "port" not in options:
        options["port"] = str(listening)  # the listening one, not 80
    events = await collect(await client.get(f"/api/v1/{tool}", params={"target": target, **options}))
    start, end = events[0].data, events[-1].data
    assert start["protocol"] == options.get("protocol", "icmp")
    assert start["count"] == (int(options["count"]) if "count" in options else {"mtr": 3, "ping": 3}.get(tool))
    assert flags.format(port=listening) in start["command"]
    assert end["status"] == "ok", end
    if tool != "ping":
        hops = of(events, "hop")
        assert hops and hops[-1]["hosts"][0]["address"] == target


async def test_tcp_to_a_closed_port_still_finds_the_host(client: Any) -> None:
    params = {"target": "127.0.0.1", "protocol": "tcp", "port": "1"}
    events = await collect(await client.get("/api/v1/traceroute", params=params))
    assert events[-1].data["status"] == "ok"
    assert of(events, "hop")[-1]["hosts"][0]["address"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("path", "params", "says"),
    [
        ("/api/v1/ping", {"protocol": "tcp"}, "protocol must be icmp"),
        ("/api/v1/traceroute", {"count": "3"}, "count means nothing for traceroute"),
        ("/api/v1/traceroute", {"protocol": "icmp", "port": "80"}, "port means nothing with ICMP"),
        ("/api/v1/mtr", {"protocol": "tcp", "port": "70000"}, "port must be a number from 1 to 65535"),
        ("/api/v1/mtr/check", {"count": "1000"}, "count must be a number from 1 to 16"),
        ("/trace", {"protocol": "gre"}, "protocol must be icmp, udp or tcp"),
        ("/ping", {"count": "x"}, "count must be a number"),
    ],
)
async def test_options_that_mean_nothing_are_400s_that_run_nothing(
    client: Any, fake_tool: Callable[..., Path], tmp_path: Path, path: str, params: dict[str, str], says: str
) -> None:
    record = tmp_path / "started"
    for tool in ("ping", "traceroute", "mtr", "tracepath"):
        fake_tool(tool, "recorder.py", {"WEBTRACE_TEST_RECORD": str(record)})
    resp = await client.get(path, params={"target": "127.0.0.1", **params})
    assert resp.status == 400
    assert says in await resp.text()
    assert not record.exists()


async def test_text_routes_take_the_options_too(client: Any, listening: int) -> None:
    text = await (await client.get("/trace", params={"target": "127.0.0.1", "protocol": "tcp",
                                                     "port": str(listening)})).text()
    assert text.startswith("traceroute to 127.0.0.1") and "ERROR" not in text


@pytest.mark.parametrize(("target", "label"), [("127.0.0.1", "127.0.0.1"), ("::1", "::1")])
async def test_mtr_for_curl_is_a_line_per_new_hop_then_a_report(client: Any, target: str, label: str) -> None:
    resp = await client.get("/mtr", params={"target": target})
    assert resp.status == 200
    lines = (await resp.text()).splitlines()
    assert lines[0] == f"  1. {label}"  # the hop, as soon as it answered
    assert not [line for line in lines if re.match(r"^[xhpd] \d+ ", line)]  # no raw records
    assert lines[-3].startswith("Start: ")
    assert re.match(r"^HOST: \S+\s+Loss%   Snt  Last   Avg  Best  Wrst StDev$", lines[-2])
    row = re.match(r"^  1\.\|-- (?P<host>.+?)\s+(?P<loss>[\d.]+)%\s+(?P<sent>\d+)(\s+[\d.]+){5}$", lines[-1])
    assert row is not None, lines[-1]
    assert label in row["host"] and row["loss"] == "0.0" and row["sent"] == "3"


async def test_the_text_routes_honour_family_as_the_api_does(client: Any) -> None:
    six = await client.get("/ping", params={"target": "::1", "family": "6"})
    assert six.status == 200 and "PING ::1" in await six.text()
    # An IPv4 address asked for in IPv6 is refused as on the API, not run over IPv4.
    wrong = await client.get("/ping", params={"target": "127.0.0.1", "family": "6"})
    assert wrong.status == 422 and (await wrong.text()).startswith("ERROR: ")
    both = await client.get("/ping", params={"target": "127.0.0.1", "family": "4", "aftype": "ipv6"})
    assert both.status == 400 and "disagree" in await both.text()
    agree = await client.get("/ping", params={"target": "127.0.0.1", "family": "4", "aftype": "ipv4"})
    assert agree.status == 200
    pointless = await client.get("/trace", params={"target": "127.0.0.1", "count": "3"})
    assert pointless.status == 400 and "count means nothing for traceroute" in await pointless.text()
    unknown = await client.get("/ping", params={"target": "127.0.0.1", "colour": "blue"})
    assert unknown.status == 200  # names the original ignored stay ignored
