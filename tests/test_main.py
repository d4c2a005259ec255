"""The real server process: CLI, settings errors, and shutdown with streams open."""

import asyncio
import gc
import os
import re
import signal
import subprocess
import sys
import weakref
from pathlib import Path

import psutil
from aiohttp import web

from tests.helpers import collect, eventually, sse_events, tool_processes
from tests.ipdbs import write_asn_db
from tests.server import Server, running_server, stopped
from webtrace.__main__ import parse_args


def test_cli_defaults_and_flags() -> None:
    args = parse_args([])
    assert (args.host, args.port, args.unix_socket) == ("127.0.0.1", 8080, None)
    args = parse_args(["--host", "::1", "--port", "9000", "--unix-socket", "/run/w.sock"])
    assert (args.host, args.port, args.unix_socket) == ("::1", 9000, "/run/w.sock")


def test_an_invalid_setting_stops_start_up_with_its_name() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "webtrace"], env={**os.environ, "WEBTRACE_PINGCOUNT": "lots"},
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "WEBTRACE_PINGCOUNT" in result.stderr and "Traceback" not in result.stderr


async def test_sigterm_ends_every_stream_with_shutdown(tmp_path: Path) -> None:
    async with running_server(tmp_path, {"WEBTRACE_MTRCOUNT": "100"}) as server:
        streams = [
            await server.session.get(f"{server.base}/api/v1/mtr", params={"target": "127.0.0.1"}),
            await server.session.get(f"{server.base}/api/v1/ping", params={"target": "::1"}),
        ]
        for resp in streams:
            async for event in sse_events(resp):
                if event.event in ("hop", "reply"):
                    break
        tools = tool_processes(server.process.pid)
        assert {p.name() for p in tools} >= {"mtr", "mtr-packet", "ping"}
        server.process.send_signal(signal.SIGTERM)
        for resp in streams:
            rest = await collect(resp, timeout=10)
            assert rest[-1].event == "end"
            assert rest[-1].data["status"] == "shutdown"
            assert "shutting down" in rest[-1].data["message"]
        code = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, server.process.wait), 5)
        assert code == 0
        assert not [p for p in tools if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


async def test_access_log_names_client_tool_target_and_outcome(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        resp = await server.session.get(
            f"{server.base}/api/v1/ping", params={"target": "127.0.0.1"},
            headers={"X-Forwarded-For": "198.51.100.23"},
        )
        await collect(resp)
        await stopped(server)
    log = server.log.read_text()
    [line] = [line for line in log.splitlines() if "/api/v1/ping" in line]
    assert "client=198.51.100.23" in line and "tool=ping" in line
    assert "target='127.0.0.1'" in line and "run=ok" in line


async def test_a_flood_of_refusals_is_counted_in_the_access_log_not_written_line_by_line(tmp_path: Path) -> None:
    async with running_server(tmp_path, {"WEBTRACE_RATELIMIT": "1/hour"}) as server:
        async def status(path: str) -> int:
            async with server.session.get(f"{server.base}{path}", params={"target": "-bad"},
                                          headers={"X-Forwarded-For": "198.51.100.23"}) as resp:
                await resp.read()
                return resp.status

        assert await status("/api/v1/ping") == 400  # spends the budget without running
        statuses = [await status("/api/v1/ping" if i % 2 else "/trace") for i in range(40)]
        assert statuses == [429] * 40
        await stopped(server)
    lines = [line for line in server.log.read_text().splitlines() if "client=198.51.100.23" in line]
    # The first refusal asked the storage and has its line; the rest are counted.
    assert len([line for line in lines if "status=429 duration_s=" in line]) == 1
    summaries = [re.search(r" refused=(\d+) within_s=[\d.]+$", line) for line in lines if "refused=" in line]
    counted = [int(found[1]) for found in summaries if found is not None]
    assert len(counted) == len(summaries) > 0 and sum(counted) == 39


async def test_each_refusal_has_its_line_when_the_operator_asks(tmp_path: Path) -> None:
    env = {"WEBTRACE_RATELIMIT": "1/hour", "WEBTRACE_LOG_REFUSALS": "each"}
    async with running_server(tmp_path, env) as server:
        for _ in range(6):
            async with server.session.get(f"{server.base}/ping", params={"target": "-bad"}) as resp:
                await resp.read()
        await stopped(server)
    log = server.log.read_text()
    assert log.count("status=429 duration_s=") == 5 and "refused=" not in log


async def test_gunicorn_with_aiohttp_worker_as_the_readme_shows(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "gunicorn", "webtrace:create_app()",
            "--worker-class", "aiohttp.GunicornWebWorker", "--bind", f"unix:{tmp_path / 'g.sock'}"]
    async with running_server(tmp_path, argv=argv, sock_name="g.sock") as server:
        events = await collect(await server.session.get(f"{server.base}/api/v1/ping", params={"target": "127.0.0.1"}))
        assert events[-1].data["status"] == "ok"


def test_start_up_warns_when_open_files_are_too_few_for_max_jobs(tmp_path: Path) -> None:
    import resource

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    proc = subprocess.Popen(
        [sys.executable, "-m", "webtrace", "--unix-socket", str(tmp_path / "s.sock")],
        env={**os.environ, "WEBTRACE_MAX_JOBS": "1000"}, preexec_fn=low_limit,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "open-files limit is 256, but WEBTRACE_MAX_JOBS=1000 needs about 3064" in first
    finally:
        proc.kill()
        proc.communicate()


async def test_json_logs_carry_the_access_fields(tmp_path: Path) -> None:
    import json

    async with running_server(tmp_path, {"WEBTRACE_LOG_FORMAT": "json"}) as server:
        await collect(await server.session.get(f"{server.base}/api/v1/traceroute", params={"target": "127.0.0.1"}))
        await stopped(server)
    entries = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
    [access] = [e for e in entries if e["logger"] == "webtrace.access"]
    assert access["client"] == "unix" and access["tool"] == "traceroute" and access["run"] == "ok"
    assert access["status"] == 200 and access["target"] == "127.0.0.1"
    assert all(e["level"] in ("INFO", "WARNING") for e in entries)


def test_the_server_runs_on_uvloop_where_it_is_installed() -> None:
    import uvloop

    from webtrace.__main__ import event_loop

    loop = event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


async def test_what_start_up_built_is_left_out_of_later_collections() -> None:
    from webtrace.__main__ import freeze_startup_heap

    class Node:
        other: object

    kept = [Node()]  # alive at start-up, like the app: frozen
    left = Node()
    left.other = left  # start-up's garbage, a cycle: collected, not frozen
    gone = weakref.ref(left)
    del left
    try:
        await freeze_startup_heap(web.Application())
        assert gone() is None
        assert gc.get_freeze_count() > 0
        assert not any(o is kept for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is kept for o in gc.get_objects())


async def test_a_forwarded_address_cannot_forge_access_log_fields(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        resp = await server.session.get(
            f"{server.base}/api/v1/ping", params={"target": "127.0.0.1"},
            headers={"X-Forwarded-For": "2001:db8::1%x status=500"},
        )
        await collect(resp)
        await stopped(server)
    [line] = [line for line in server.log.read_text().splitlines() if "/api/v1/ping" in line]
    assert "client=2001:db8::1 method=GET" in line
    assert line.count("status=") == 1 and "status=200" in line


async def test_a_tool_that_cannot_start_has_its_outcome_in_the_access_log(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    broken = bin_dir / "traceroute"
    broken.write_text("#!/nonexistent/interpreter\n")  # found and executable, but exec fails
    broken.chmod(0o755)
    async with running_server(tmp_path, {"PATH": f"{bin_dir}:{os.environ['PATH']}"}) as server:
        resp = await server.session.get(f"{server.base}/trace", params={"target": "127.0.0.1"})
        assert (await resp.text()).startswith("ERROR: traceroute could not start")
        await stopped(server)
    [line] = [line for line in server.log.read_text().splitlines() if "path='/trace'" in line]
    assert "tool=traceroute" in line and "run=failed" in line


def test_a_database_that_cannot_be_read_stops_start_up_with_its_setting(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "webtrace"], env={**os.environ, "WEBTRACE_ASN_DB": str(tmp_path / "GeoLite2-ASN.mmdb")},
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    missing = tmp_path / "GeoLite2-ASN.mmdb"
    assert result.stderr.strip() == f"webtrace: WEBTRACE_ASN_DB={missing} cannot be read: there is no such file"


async def _hop_host(server: Server) -> dict[str, object]:
    resp = await server.session.get(f"{server.base}/api/v1/traceroute", params={"target": "127.0.0.1"})
    return [e for e in await collect(resp) if e.event == "hop"][-1].data["hosts"][0]


async def _log_says(server: Server, text: str, times: int, timeout: float = 15) -> bool:
    return await eventually(lambda: server.log.read_text().count(text) >= times, timeout)


async def test_databases_are_reopened_when_replaced_and_on_sighup(tmp_path: Path) -> None:
    asn = write_asn_db(tmp_path / "asn.mmdb")
    async with running_server(tmp_path, {"WEBTRACE_ASN_DB": str(asn), "WEBTRACE_NAMES": "on"}) as server:
        assert await _hop_host(server) == {"address": "127.0.0.1", "name": "localhost", "asn": 64500,
                                           "as_name": "Example Net"}
        reopened = f"WEBTRACE_ASN_DB={asn} reopened"
        server.process.send_signal(signal.SIGHUP)  # the file is the same: only the signal reopens it
        assert await _log_says(server, reopened, 1)
        # An updater renames a new file into place; the server sees it within seconds.
        write_asn_db(tmp_path / "new.mmdb", {"127.0.0.0/8": (64510, "Renumbered Net", "NL")})
        os.replace(tmp_path / "new.mmdb", asn)
        assert await _log_says(server, reopened, 2)
        assert (await _hop_host(server))["asn"] == 64510
        assert server.process.poll() is None


def test_help_is_plain_text() -> None:
    result = subprocess.run([sys.executable, "-m", "webtrace", "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "``" not in result.stdout and "/ ``python" not in result.stdout  # no reStructuredText markup
    assert "a looking glass" in result.stdout and "WEBTRACE_*" in result.stdout
    assert "--unix-socket PATH" in result.stdout
