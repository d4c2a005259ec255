"""Continuous runs on the page: the switch, the time run, a prominent Stop, ping's
chart scrolling over the last five minutes and mtr's per-hop history. Real server,
real ping and mtr on loopback, Debian's Chromium."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.fixtures import BROWSER_ENV, open_page
from tests.helpers import eventually, tool_processes
from tests.server import ServerProcess, server_process
from webtrace.results.records import new_result_id
from webtrace.results.sqlite import SqliteStore
from webtrace.results.store import Batch

pytestmark = pytest.mark.browser

RUNNING = re.compile(r"^Running for \d+:\d\d of at most 1:00$")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("continuous-results") / "results.sqlite3"


@pytest.fixture(scope="module")
def lg(tmp_path_factory: pytest.TempPathFactory, store_path: Path) -> Iterator[ServerProcess]:
    """A server whose continuous runs may last a minute, and whose slices are 5 s."""
    tmp = tmp_path_factory.mktemp("continuous")
    env = {**BROWSER_ENV, "WEBTRACE_CONTINUOUS_MAX": "60", "WEBTRACE_TIMEOUT": "5",
           "WEBTRACE_RATELIMIT": "100/minute", "WEBTRACE_RESULTS": f"sqlite:///{store_path}",
           "WEBTRACE_PINGINTERVAL": "0.5", "WEBTRACE_MTRINTERVAL": "0.2", "WEBTRACE_NAMES": "off"}
    with server_process(tmp, env, unix=False) as server:
        yield server


async def test_continuous_ping_runs_until_stop_with_its_time_shown(lg: ServerProcess, browser: Browser) -> None:
    watched = await open_page(browser, width=1366)
    page = watched.page
    await page.goto(f"{lg.base}/?tool=traceroute")
    switch = page.get_by_role("switch", name="Continuous")
    await expect(switch).to_be_hidden()  # traceroute cannot run continuously
    await page.get_by_role("radio", name="ping").check()
    await expect(switch).to_be_visible()
    await switch.check()
    await expect(page.locator("#count")).to_be_disabled()
    await page.locator("#target").fill("127.0.0.1")
    await page.get_by_role("button", name="Run").click()
    label = page.locator("#progress-label")
    await expect(label).to_have_text(RUNNING)
    assert "continuous=true" in page.url and "count=" not in page.url
    stop = page.get_by_role("button", name="Stop the run")
    await expect(stop).to_be_enabled()
    assert await stop.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(207, 34, 46)"  # it stands out
    # Past the 5 probes of an ordinary run, still going.
    await expect(page.locator("#chart .point").nth(6)).to_be_attached()
    await expect(page.locator("#status")).to_have_text(re.compile(r"^Running ping to 127\.0\.0\.1"))
    assert await watched.inaccessible() == []
    await stop.click()
    await expect(page.locator("#status")).to_have_text("Stopped ping to 127.0.0.1.")
    await expect(page.get_by_role("button", name="Stop")).to_be_disabled()
    assert await eventually(lambda: not tool_processes(lg.process.pid), 2.0)
    assert await watched.problems() == []


async def test_continuous_mtr_draws_each_hops_recent_cycles(lg: ServerProcess, browser: Browser) -> None:
    watched = await open_page(browser, width=1366, color_scheme="dark")
    page = watched.page
    await page.goto(f"{lg.base}/?tool=mtr&target=127.0.0.1&continuous=true")  # a permalink runs at once
    await expect(page.get_by_role("switch", name="Continuous")).to_be_checked()
    await expect(page.locator("#progress-label")).to_have_text(RUNNING)
    await expect(page.locator("#hops thead th[data-column=history]")).to_have_text("Recent")
    history = page.locator("#hops tbody tr").first.locator("td.history-col")
    await expect(history).to_have_attribute("data-cycles", re.compile(r"^([5-9]|\d\d+)$"))
    spark = history.locator("svg.spark")
    words = re.compile(r"^hop 1, last \d+ cycles: 0 lost, [\d.]+ to [\d.]+ ms$")
    await expect(spark).to_have_attribute("aria-label", words)
    assert await spark.locator("polyline.spark-line").count() == 1
    assert await spark.locator("rect.spark-lost").count() == 0
    assert await watched.inaccessible() == []
    await page.get_by_role("button", name="Stop the run").click()
    await expect(page.locator("#status")).to_have_text("Stopped mtr to 127.0.0.1.")
    assert await eventually(lambda: not tool_processes(lg.process.pid), 2.0)
    assert await watched.problems() == []


def _long_ping_result(probes: int) -> list[tuple[int, str, dict[str, object]]]:
    """A continuous ping's events over ``probes`` probes, every tenth lost."""
    events: list[tuple[int, str, dict[str, object]]] = [
        (1, "start", {"tool": "ping", "target": "127.0.0.1", "address": "127.0.0.1", "family": "4",
                      "protocol": "icmp", "port": None, "count": None, "command": "ping -n -O 127.0.0.1",
                      "result": None, "continuous": True})]
    for seq in range(1, probes + 1):
        lost = seq % 10 == 0
        events.append((len(events) + 1, "reply", {"seq": seq, "rtt_ms": None if lost else 0.05 + seq % 7 / 100,
                                                  "ttl": None if lost else 64, "host": None if lost else "127.0.0.1",
                                                  "lost": lost}))
    events.append((len(events) + 1, "end", {"status": "timeout", "exit_code": None, "duration_s": probes * 0.5,
                                            "message": "ping ran for 600 s, the most a continuous run may here"}))
    return events


async def _stored(store_path: Path, meta: dict[str, Any], events: list[tuple[int, str, dict[str, object]]],
                  status: str) -> str:
    """A result that ran ten minutes, written into the server's own results file: no test waits that long."""
    store = SqliteStore(store_path, ttl=3600)
    result_id = new_result_id()
    await store.save([Batch(result_id, meta=meta, started_at=time.time() - 700, events=events, status=status,
                            ended_at=time.time() - 100)])
    await store.close()
    return result_id


async def test_a_continuous_pings_chart_scrolls_over_the_last_five_minutes(
        lg: ServerProcess, browser: Browser, store_path: Path) -> None:
    meta = {"tool": "ping", "target": "127.0.0.1", "address": "127.0.0.1", "family": "4", "protocol": "icmp",
            "port": None, "count": None, "command": "ping -n -O 127.0.0.1", "continuous": True, "node": "here"}
    result_id = await _stored(store_path, meta, _long_ping_result(1200), "timeout")  # 600 s, one every 0.5 s
    watched = await open_page(browser, width=1366)
    page = watched.page
    await page.goto(f"{lg.base}/r/{result_id}")
    chart = page.locator("#chart")
    await expect(page.locator("#status")).to_have_text("Ping ran for 600 s, the most a continuous run may here.")
    # The last 300 s: probes 600 to 1200, of which every tenth lost, on an axis from 299.5 s.
    await expect(chart.locator(".point")).to_have_count(601 - 61)
    await expect(chart.locator(".lost")).to_have_count(61)
    ticks = [t for t in await chart.locator("text.tick").all_text_contents() if t.endswith(" s")]
    seconds = [float(tick.removesuffix(" s")) for tick in ticks]
    assert len(seconds) >= 3 and 299.5 <= min(seconds) and max(seconds) <= 599.5
    first = await chart.locator("[data-tip]").first.get_attribute("aria-label")
    assert first is not None and first.startswith("#600 at 299.5 s")
    assert await watched.problems() == []


async def test_a_continuous_ping_from_two_nodes_shows_their_last_five_minutes_together(
        lg: ServerProcess, browser: Browser, store_path: Path) -> None:
    """ping from several nodes is one chart: a continuous run's scrolls over its last
    five minutes of probes too, every node's in its place."""
    nodes = ("lon1", "fra1")
    meta = {"tool": "ping", "target": "127.0.0.1", "address": None, "family": "4", "protocol": "icmp",
            "port": None, "count": None, "command": None, "continuous": True, "nodes": list(nodes), "node": "lon1"}
    events: list[tuple[int, str, dict[str, object]]] = []
    for node in nodes:
        for _, kind, data in _long_ping_result(1200):
            events.append((len(events) + 1, kind, {**data, "node": node}))
    events.append((len(events) + 1, "done", {"status": "ok", "nodes": {node: "timeout" for node in nodes}}))
    result_id = await _stored(store_path, meta, events, "ok")
    watched = await open_page(browser, width=1366)
    page = watched.page
    await page.goto(f"{lg.base}/r/{result_id}")
    chart = page.locator("#nodes-chart")
    await expect(chart.locator("text.axis").last).to_have_text("probe 601 to 1200")  # 300 s at one every 0.5 s
    for index in range(2):  # each node's last 600 probes, every tenth lost
        await expect(chart.locator(f"circle.point.node-{index}")).to_have_count(600 - 60)
        await expect(chart.locator(f"path.lost.node-{index}")).to_have_count(60)
    stats = page.locator("#nodes-stats tbody tr")
    await expect(stats.nth(1).locator("td").nth(0)).to_have_text("1200")  # the table counts every probe
    assert await watched.problems() == []


async def test_continuous_mtr_from_two_nodes_side_by_side_draws_each_nodes_recent_cycles(
        browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("continuous-nodes")
    env = {**BROWSER_ENV, "WEBTRACE_CONTINUOUS_MAX": "60", "WEBTRACE_RATELIMIT": "100/minute",
           "WEBTRACE_MTRINTERVAL": "0.2", "WEBTRACE_NAMES": "off"}
    (tmp / "fra1").mkdir()
    (tmp / "lon1").mkdir()
    with server_process(tmp / "fra1", {**env, "WEBTRACE_NODE_NAME": "fra1"}, unix=False) as fra1, \
            server_process(tmp / "lon1", {**env, "WEBTRACE_NODE_NAME": "lon1", "WEBTRACE_NODES": f"fra1={fra1.base}"},
                           unix=False) as front:
        watched = await open_page(browser, width=1366)
        page = watched.page
        await page.goto(f"{front.base}/?tool=mtr&target=127.0.0.1&continuous=true&nodes=lon1,fra1")
        await expect(page.locator("#paths-table thead th")).to_have_text(["Hop", "lon1", "fra1"])
        cells = page.locator("#paths-table tr.shared-figures td.node-cell")
        await expect(cells).to_have_count(2)
        for index in range(2):
            spark = cells.nth(index).locator(".cell-spark")
            await expect(spark).to_have_attribute("data-cycles", re.compile(r"^([5-9]|\d\d+)$"))
            await expect(spark.locator("svg.spark")).to_have_attribute(
                "aria-label", re.compile(r"^hop 1, last \d+ cycles: 0 lost, [\d.]+ to [\d.]+ ms$"))
        assert await watched.inaccessible() == []
        await page.get_by_role("button", name="Stop the run").click()
        await expect(page.locator("#status")).to_have_text("Stopped mtr to 127.0.0.1.")
        assert await eventually(lambda: not tool_processes(fra1.process.pid)
                                and not tool_processes(front.process.pid), 2.0), "an mtr is still running"
        assert await watched.problems() == []
