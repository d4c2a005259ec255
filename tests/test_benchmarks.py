"""A smoke run of the benchmark harness, so that it cannot rot. Timing targets live in
benchmarks/README.md, measured by ``make bench``, not here."""

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.instructions import FRONT, SETTINGS, measure
from benchmarks.load import latency_over_floor, median_round
from benchmarks.report import rows
from benchmarks.stats import at_same_moments, weighted_percentile
from benchmarks.visitors import Dialer, Streams, stream

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_every_scenario_runs_at_a_small_size(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    results = json.loads(out.read_text())
    for name in ("ping-10", "ping-10-text"):
        ping = results[name]
        assert ping["completed"] == 10 and ping["failed"] == 0
        assert ping["lines"] == 50 and ping["p99_latency"] is not None and ping["floor_p99_latency"] is not None
        assert ping["cpu_per_line"] > 0 and ping["peak_pss"] > 0
        assert ping["client_cpu_s"] > 0 and ping["server_cpu_s"] > 0  # the load generator's share, seen
    assert results["ping-10-text"]["floor_p99_ttfb"] > 0  # the bare server's headers
    assert results["refused-429"]["webtrace_rps"] > 0 and results["refused-429"]["bare_rps"] > 0
    storm = results["disconnect-storm-5"]
    assert storm["mtr_running"] >= 5 and storm["left_over"] == 0 and storm["gone_after_s"] < 30
    assert results["mtr-first-hop"]["p50"] is not None
    mtr = results["mtr-5-names"]
    assert mtr["completed"] == 5 and not mtr["failures"] and mtr["lines"] > 0 and mtr["cpu_per_line"] > 0
    assert mtr["named"] > 0  # the rows carried names: the scenario measures what it says
    flushed = results["store-flush-10"]
    assert flushed["stored_events"] == 4 and flushed["cpu_per_run"] > 0 and flushed["written_bytes_per_run"] > 0
    fanned = results["nodes-5"]
    assert fanned["completed"] == 5 and fanned["direct_completed"] == 4 and not fanned["failures"]
    assert fanned["added_p99"] is not None and len(fanned["added_p99_by_round"]) == 1
    assert fanned["lines"] == 50 and fanned["direct_lines"] == 20
    assert fanned["nginx_completed"] == 4 and fanned["nginx_lines"] == 20 and fanned["nginx_added_p99"] is not None
    assert "added_p99_same_moments" in fanned and "nginx_added_p99_same_moments" in fanned
    assert fanned["front_cpu_per_line"] > 0 and fanned["node_cpu_per_line"] > 0
    parts = results["node-parts-20"]  # each part's end said ok, or the scenario failed
    assert parts["n"] == 20 and parts["cpu_per_part_setup"] > 0 and parts["cpu_per_part_with_lines"] > 0
    formats = results["formats-64KiB"]
    for name in ("mtr json", "mtr text", "mtr atlas", "mtr mtr-json", "mtr csv", "ping json", "ping text",
                 "ping atlas", "ping csv"):
        assert formats[name]["server_cpu_ms"] > 0 and formats[name]["response_bytes"] > 0
        assert formats[name]["written_bytes"] == formats[name]["response_bytes"]  # what the server sent
    for name in ("mtr 10 cycles", "mtr 2MiB"):
        assert results["compare-mtr-30"][name]["hops"] == 30 and results["compare-mtr-30"][name]["server_cpu_ms"] > 0
    pings = results["continuous-ping-3"]
    assert pings["completed"] == 3 and pings["ordinary_completed"] == 3 and not pings["failures"]
    assert pings["lines"] > 0 and pings["ordinary_lines"] == 30 and pings["ratio"] is not None
    followed = results["continuous-followers-5"]
    assert followed["events"] > 5 and not followed["failures"] and followed["p99_lag"] is not None
    memory = results["continuous-memory-2"]
    assert memory["completed"] == 2 and memory["samples"] > 2 and memory["growth"] is not None
    page = results["page-paths-4x30"]
    assert page["status"] == "Done: every node finished." and page["rows"] == 50  # 10 hops apart, 20 shared
    assert page["draws"] > 0 and page["draw_p99_ms"] is not None and page["script_per_cycle_ms"] > 0


def test_a_weighted_percentile_counts_each_value_by_its_weight() -> None:
    assert weighted_percentile([(1.0, 1), (2.0, 1), (3.0, 98)], 99) == 3.0
    assert weighted_percentile([(1.0, 98), (2.0, 1), (3.0, 1)], 98) == 1.0
    assert weighted_percentile([(1.0, 98), (2.0, 1), (3.0, 1)], 99) == 2.0
    assert weighted_percentile([(5.0, 0)], 99) is None


def test_lines_are_compared_with_the_yardstick_moment_for_moment() -> None:
    # Three lines in the first slice, one in the second; the yardstick has one line in
    # each, and one in a third slice the lines never reach.
    weighted, kept = at_same_moments([10.0, 11.0, 12.0, 50.0], [0.01, 0.02, 0.03, 0.15],
                                     [1.0, 2.0, 3.0], [0.05, 0.12, 0.25], 0.1)
    assert weighted == [(10.0, 1 / 3), (11.0, 1 / 3), (12.0, 1 / 3), (50.0, 1.0)]
    assert kept == [1.0, 2.0]  # the third slice has nothing to compare it with
    assert weighted_percentile(weighted, 99) == 50.0  # the late line weighs half, not a quarter


def test_a_profile_leaves_waits_out_and_scales_shares_to_the_measured_cpu() -> None:
    from benchmarks.profile import read_stacks, summary

    stacks = read_stacks([
        "serve (webtrace/web/serving.py:94);pump (webtrace/runs/job.py:85);write (libc.so.6) 3",
        "serve (webtrace/web/serving.py:94);gc_collect_main (libpython3.11.so.1.0) 1",
        "_worker (concurrent/futures/thread.py:81);_queue_SimpleQueue_get (_queuemodule.c.h:177);futex (libc) 50",
        "run_forever (asyncio/base_events.py:608);select (selectors.py:468);epoll_pwait (libc.so.6) 40",
        "not a stack line",
    ])
    assert sum(stacks.values()) == 4  # the executor's and the loop's waits are not work
    report = summary(stacks, cpu_s=0.4, requests=100, lines=400)
    assert report[0].startswith("4 busy samples")
    assert any(line.startswith("Socket writes") and "latency, not CPU" in line for line in report[:4])
    [write] = [line for line in report if line.endswith("write (libc.so.6)")]
    assert write.split()[:3] == ["75.0%", "3000.0", "µs/request"]  # 3/4 of 0.4 s over 100 requests
    inclusive = report[report.index("Inclusive (webtrace, aiohttp, asyncio, limits, with all they called):") + 1:]
    assert inclusive[0].endswith("serve (webtrace/web/serving.py:94)") and inclusive[0].startswith("100.0%")


async def test_cpu_against_the_floor_is_judged_on_the_median_of_each_rounds_own_ratio() -> None:
    # The round of median latency (the second here) has the worst CPU ratio; the floor,
    # measured beside each round, moved with the machine.
    rounds = iter([
        {"p99_latency": 0.003, "floor_p99_latency": 0.001, "cpu_per_line": 400e-6, "floor_cpu_per_line": 200e-6},
        {"p99_latency": 0.004, "floor_p99_latency": 0.001, "cpu_per_line": 500e-6, "floor_cpu_per_line": 200e-6},
        {"p99_latency": 0.005, "floor_p99_latency": 0.001, "cpu_per_line": 630e-6, "floor_cpu_per_line": 300e-6},
    ])

    async def once() -> dict[str, Any]:
        return next(rounds)

    chosen = await median_round(3, once, latency_over_floor)
    assert chosen["cpu_per_line"] == 500e-6  # the round of median latency, as before
    assert chosen["cpu_ratio_rounds"] == pytest.approx([2.0, 2.5, 2.1])
    assert chosen["cpu_ratio_median"] == pytest.approx(2.1)
    [row] = [row for row in rows({"ping-500-over-10s-results": {**chosen, "sse": True}})
             if row[0].startswith("server CPU")]
    assert row[3] == "2.10× (median of 2.00, 2.50, 2.10)"
    assert row[4:] == ("at most 2.2×", "met")  # the chosen round alone (2.5×) would have missed


@pytest.mark.slow
async def test_the_instructions_of_a_run_are_counted_thread_by_thread() -> None:
    stored = "results in SQLite"
    report = await measure(2, 2, {stored: SETTINGS[stored]})  # the other setting is counted the same way
    counted = report[stored]
    assert counted["completed"] == 2
    assert counted["loop"] > 100_000  # a run's Python, counted in the loop's thread
    assert counted["other_threads"] > 10_000  # the store's thread writing the results
    assert counted["total"] == counted["loop"] + counted["other_threads"]


@pytest.mark.slow
async def test_a_front_is_counted_relaying_runs_from_two_nodes_of_its_own() -> None:
    report = await measure(2, 2, {FRONT: SETTINGS[FRONT]})
    counted = report[FRONT]
    assert counted["completed"] == 2  # each stream ended ok from both nodes
    assert counted["loop"] > 100_000  # the front's relaying, counted; its nodes run outside valgrind
    assert "front_line_over_node_line" not in report  # a node's own run was not counted beside it


async def _serve_bytes(tmp_path: Path, pieces: list[bytes]) -> tuple[Path, asyncio.AbstractServer]:
    """A unix socket that answers any request with ``pieces``, each its own write and
    drained before the next, then closes: a response split where we choose."""
    sock = tmp_path / "answer.sock"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0)  # another read for the visitor, most of the time; the asserts need none
        writer.close()

    return sock, await asyncio.start_unix_server(answer, str(sock))


def _chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


async def test_a_visitor_reads_a_chunked_stream_however_its_reads_fall(tmp_path: Path) -> None:
    printed = time.time() - 0.5
    frames = [b"event: line\r\ndata: {\"text\": \"[%.6f] 64 bytes\"}\r\n\r\n" % (printed - i) for i in range(3)]
    frames.append(b'event: end\r\ndata: {"status":"ok"}\r\n\r\n')
    whole = _HEAD + _chunked(*frames)
    # Split inside the head, inside a chunk's size line, inside a chunk, and between chunks.
    cuts = [20, len(_HEAD) + 1, len(_HEAD) + 30, len(_HEAD) + 200, len(whole) - 3]
    pieces = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)])]
    sock, server = await _serve_bytes(tmp_path, pieces)
    seen: list[bytes] = []
    into = Streams()
    async with server:
        await stream(Dialer(sock), "http://webtrace/api/v1/ping?target=127.0.0.1", time.time(), into, True,
                     seen.append)
    assert into.completed == 1 and into.failures == [] and len(into.ttfb) == 1
    assert len(into.latency) == 3 and min(into.latency) >= 0.5 - 1e-3  # every stamp whole, none cut by a chunk
    assert [raw for raw in seen if raw.startswith(b"event: ")] == [b"event: line\r"] * 3 + [b"event: end\r"]


async def test_a_visitor_counts_a_refusal_and_a_stream_cut_short_as_failures(tmp_path: Path) -> None:
    refused = b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\n{}"
    cut = _HEAD + b"%x\r\n" % 40  # a chunk begun, never finished
    into = Streams()
    for answer in (refused, cut):
        sock, server = await _serve_bytes(tmp_path, [answer])
        async with server:
            await stream(Dialer(sock), "http://webtrace/api/v1/ping?target=127.0.0.1", time.time(), into, True)
    assert into.completed == 0 and into.failures == ["HTTP 429", "stream ended early"]


def test_the_report_shows_what_the_load_generator_took_beside_the_server() -> None:
    crowd = {"n": 1000, "completed": 1000, "p99_latency": 0.012, "floor_p99_latency": 1.7, "p99_ttfb": 0.3,
             "floor_p99_ttfb": 0.13, "p99_first_line": 2.5, "floor_p99_first_line": 1.7, "cpu_per_line": 300e-6,
             "floor_cpu_per_line": 90e-6, "client_cpu_s": 0.45, "server_cpu_s": 1.5}
    [row] = [row for row in rows({"ping-1000": crowd}) if "load generator" in row[0]]
    assert row[1:4] == ("0.45 s", "1.50 s (the server's)", "0.30×")
    del crowd["client_cpu_s"]  # a results file from before it was measured
    assert not [row for row in rows({"ping-1000": crowd}) if "load generator" in row[0]]
