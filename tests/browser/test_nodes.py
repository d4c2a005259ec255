"""Vantage points on the page: the node picker, parts side by side on a wide screen
and one under another on a phone, each with its own status; traceroute and mtr
from several nodes as one aligned table of their paths; real webtrace processes
as the nodes, all on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.fixtures import BROWSER_ENV, open_page
from tests.helpers import free_port, eventually, tool_processes
from tests.ipdbs import write_asn_db, write_geo_db
from tests.server import ServerProcess, server_process

pytestmark = pytest.mark.browser

NODE_ENV = {**BROWSER_ENV, "WEBTRACE_RATELIMIT": "100/minute", "WEBTRACE_NAMES": "off"}


@dataclass
class Places:
    front: ServerProcess
    fra1: ServerProcess


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Places]:
    """A front (lon1) and its nodes: fra1, par1 and waw1, ams1 whose policy refuses
    loopback, and gone, where nothing answers. Each knows loopback's AS and country."""
    tmp = tmp_path_factory.mktemp("places")
    env = {**NODE_ENV, "WEBTRACE_ASN_DB": str(write_asn_db(tmp / "asn.mmdb")),
           "WEBTRACE_GEO_DB": str(write_geo_db(tmp / "geo.mmdb"))}
    info = {"fra1": "Frankfurt", "ams1": "Amsterdam", "par1": "Paris", "waw1": "Warsaw", "lon1": "London"}
    for name in info:
        (tmp / name).mkdir()
    with ExitStack() as stack:
        nodes = {}
        for name in ("fra1", "ams1", "par1", "waw1"):
            own = {"WEBTRACE_NODE_NAME": name, "WEBTRACE_SERVERINFO": info[name],
                   **({"WEBTRACE_ALLOW_NETWORKS": ""} if name == "ams1" else {})}
            nodes[name] = stack.enter_context(server_process(tmp / name, {**env, **own}, unix=False))
        listed = ",".join(f"{name}={node.base}" for name, node in nodes.items())
        front = stack.enter_context(server_process(tmp / "lon1", {
            **env, "WEBTRACE_NODE_NAME": "lon1", "WEBTRACE_SERVERINFO": "London",
            "WEBTRACE_NODES": f"{listed},gone=http://127.0.0.1:{free_port()}",
            "WEBTRACE_NODES_CHECK_INTERVAL": "0.5"}, unix=False))
        yield Places(front, nodes["fra1"])


def parts(page: Page) -> Locator:
    return page.locator("#parts .part:visible")


async def test_the_picker_and_parts_side_by_side(places: Places, browser: Browser) -> None:
    watched = await open_page(browser, width=1400)
    page = watched.page
    await page.goto(places.front.base)
    picker = page.locator("#nodes-field")

    def box(name: str) -> Locator:
        return picker.locator(f'input[name="node"][value="{name}"]')

    await expect(box("lon1")).to_be_checked()  # this server alone, unless the visitor picks others
    await expect(picker.get_by_text("Frankfurt")).to_be_visible()
    await page.reload()  # the front has checked its nodes by now: each is shown up
    await expect(page.locator('.node-state[data-node="fra1"]')).to_have_text("")
    # A node a check found down says since when, and cannot be picked.
    await expect(page.locator('.node-state[data-node="gone"]')).to_have_text(re.compile(r"^down since \d\d:\d\d UTC$"))
    await expect(box("gone")).to_be_disabled()
    await expect(box("fra1")).to_be_enabled()
    for name in ("fra1", "ams1"):
        await box(name).check()
    await page.get_by_label("ping", exact=True).check()
    await page.get_by_label("Target").fill("127.0.0.1")
    await page.get_by_label("Count").fill("3")
    await page.get_by_label("Target").press("Enter")
    await expect(page.locator("#status")).to_have_text("Done: some nodes did not finish.")
    assert page.url.endswith("&count=3&nodes=lon1%2Cfra1%2Cams1")
    shown = parts(page)
    await expect(shown).to_have_count(3)
    await expect(shown.locator(".part-name")).to_have_text(["lon1", "fra1", "ams1"])
    await expect(shown.nth(0).locator(".part-status")).to_have_text(re.compile(r"^Finished in"))
    await expect(shown.nth(2).locator(".part-status")).to_have_text(re.compile(r"127\.0\.0\.1"))  # ams1's own words
    boxes = [await shown.nth(i).bounding_box() for i in range(3)]
    assert all(boxes)
    assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] < boxes[1]["x"]  # type: ignore[index]
    await expect_one_chart(page)
    await unclipped(page)
    # The whole run is one result, with every part.
    href = await page.locator("#result-link").get_attribute("href")
    assert href is not None
    await page.goto(href)
    await expect(page.locator("#status")).to_have_text("Done: some nodes did not finish.")
    await expect(parts(page).locator(".part-name")).to_have_text(["lon1", "fra1", "ams1"])
    await expect_one_chart(page)
    assert await watched.problems() == []


async def expect_one_chart(page: Page) -> None:
    """ping from lon1, fra1 and ams1 (which refused): one chart, a line per node that ran, a legend, a table."""
    chart = page.locator("#nodes-chart")
    await expect(chart).to_be_visible()
    await expect(page.locator(".part .chart-view:visible")).to_have_count(0)  # no chart of a node's own
    await expect(page.locator("#nodes-legend li")).to_have_text(["lon1", "fra1", "ams1"])
    # One time axis: the same probe sits at the same place in every node's line.
    where = [await chart.locator(f"circle.point.node-{i}").evaluate_all(
        "points => points.map((p) => p.getAttribute('cx'))") for i in range(2)]
    assert len(where[0]) == 3 and where[0] == where[1]
    await expect(chart.locator("polyline.line")).to_have_count(2)
    fill = await chart.locator("polyline.line").first.evaluate("line => getComputedStyle(line).fill")
    assert fill == "none"  # a line, not a filled polygon
    rows = page.locator("#nodes-stats tbody tr")
    await expect(rows.locator("th")).to_have_text(["lon1", "fra1", "ams1"])
    for i in range(2):
        await expect(rows.nth(i).locator("td").nth(0)).to_have_text("3")
        await expect(rows.nth(i).locator("td").nth(1)).to_have_text("3")
        await expect(rows.nth(i).locator("td").nth(2)).to_have_text("0%")
    await expect(rows.nth(2).locator("td.why")).to_have_text(re.compile(r"127\.0\.0\.1"))  # its sentence, no figures


async def test_ping_from_several_nodes_on_a_phone_in_dark_mode(places: Places, browser: Browser) -> None:
    watched = await open_page(browser, width=375, height=800, color_scheme="dark")
    page = watched.page
    await page.goto(f"{places.front.base}/?tool=ping&target=127.0.0.1&count=2&nodes=lon1,fra1")
    await expect(page.locator("#status")).to_have_text("Done: every node finished.")
    await expect(page.locator("#nodes-legend li")).to_have_text(["lon1", "fra1"])
    strokes = await page.locator("#nodes-chart polyline.line").evaluate_all(
        "lines => lines.map((line) => getComputedStyle(line).stroke)")
    assert strokes == ["rgb(88, 166, 255)", "rgb(255, 166, 87)"]  # the dark theme's own, light on a dark page
    await expect(page.locator("#nodes-stats tbody tr th")).to_have_text(["lon1", "fra1"])
    await unclipped(page)
    assert await watched.problems() == []


async def unclipped(page: Page) -> None:
    """No table shown clips a column: each is as wide as its content, and so is the page."""
    widths = await page.locator("table:visible").evaluate_all(
        "tables => tables.map((t) => [t.id, t.scrollWidth, t.clientWidth, t.parentElement.scrollWidth,"
        " t.parentElement.clientWidth])")
    assert widths and all(w[1] <= w[2] and w[3] <= w[4] for w in widths), widths
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def test_paths_side_by_side_from_four_nodes_on_a_wide_screen(places: Places, browser: Browser) -> None:
    watched = await open_page(browser, width=1366)
    page = watched.page
    await page.goto(f"{places.front.base}/?tool=mtr&target=127.0.0.1&count=3&nodes=lon1,fra1,par1,waw1,ams1")
    table = page.locator("#paths-table")
    # Live: the shared first hop is drawn while mtr still runs.
    await expect(table.locator("tbody tr.shared")).to_have_count(1)
    await expect(page.get_by_role("button", name="Stop")).to_be_enabled()
    await expect(page.locator("#status")).to_have_text("Done: some nodes did not finish.")
    summary = page.locator("#paths-summary tbody tr")
    assert await summary.evaluate_all("rows => rows.map((r) => r.dataset.node)") == [
        "lon1", "fra1", "ams1", "par1", "waw1"]  # in the order the server lists its nodes
    for i in (0, 1, 3, 4):
        await expect(summary.nth(i).locator("td").nth(0)).to_have_text("1")  # hops to the target
        await expect(summary.nth(i).locator("td").nth(1)).to_have_text("0.0%")
        await expect(summary.nth(i).locator(".as-path .chip")).to_have_text(["AS64500"])
    await expect(summary.locator(".tag")).to_have_text(["best"])  # one node, the lowest average there
    await expect(summary.nth(2).locator("td.why")).to_have_text(re.compile(r"127\.0\.0\.1"))
    await expect(page.locator("#paths-join")).to_have_text("The paths join at hop 1 (127.0.0.1).")
    # A column per node that ran (ams1 refused: its sentence above, no column), one shared row.
    await expect(table.locator("thead th")).to_have_text(["Hop", "lon1", "fra1", "par1", "waw1"])
    shared = table.locator("tr.shared td.shared-hosts")
    await expect(shared.locator(".tag")).to_have_text(["shared", "paths join"])
    await expect(shared.locator("button.host")).to_have_text(["127.0.0.1"])
    await expect(shared.locator(".whois")).to_have_text("AS64500 Example Net · NL")
    figures = table.locator("tr.shared-figures td")
    await expect(figures).to_have_count(4)
    await expect(figures.first.locator(".cell-figures")).to_have_text(re.compile(r"^loss 0\.0% · avg \d+\.\d+ ms$"))
    # And its three cycles there, as a sparkline of each node's own.
    await expect(figures.locator(".cell-spark svg.spark")).to_have_count(4)
    await expect(figures.first.locator("svg.spark")).to_have_attribute(
        "aria-label", re.compile(r"^hop 1, last 3 cycles: 0 lost, [\d.]+ to [\d.]+ ms$"))
    # No node's own hop table; the part that refused shows its sentence and nothing of a run.
    await expect(page.locator(".part .hops-view:visible")).to_have_count(0)
    refused = parts(page).nth(2)
    await expect(refused.locator(".part-status")).to_have_text(re.compile(r"127\.0\.0\.1"))
    for what in (".meta", ".progress-row", ".raw"):
        await expect(refused.locator(what)).to_be_hidden()
    await unclipped(page)
    assert await watched.inaccessible() == []
    # A host in the table makes it the target.
    await shared.locator("button.host").click()
    await expect(page.get_by_label("Target")).to_have_value("127.0.0.1")
    assert await watched.problems() == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_paths_fold_under_each_hop_on_a_phone(places: Places, browser: Browser, scheme: str) -> None:
    watched = await open_page(browser, width=375, height=800, color_scheme=scheme)
    page = watched.page
    await page.goto(f"{places.front.base}/?tool=traceroute&target=127.0.0.1&nodes=lon1,fra1,gone")
    await expect(page.locator("#status")).to_have_text("Done: some nodes did not finish.")
    shown = parts(page)
    await expect(shown).to_have_count(3)
    first, second = await shown.nth(0).bounding_box(), await shown.nth(1).bounding_box()
    assert first and second and first["x"] == second["x"] and second["y"] > first["y"]
    await expect(page.locator(".fold-cue")).to_be_visible()
    await expect(page.locator("#paths-table thead")).to_be_hidden()
    cells = page.locator("#paths-table tr.shared-figures td")
    await expect(cells).to_have_count(2)
    boxes = [await cells.nth(i).bounding_box() for i in range(2)]
    assert boxes[0] and boxes[1] and boxes[0]["x"] == boxes[1]["x"] and boxes[1]["y"] > boxes[0]["y"]
    labels = await cells.evaluate_all("cells => cells.map((c) => getComputedStyle(c, '::before').content)")
    assert labels == ['"lon1"', '"fra1"']  # each node named in its place
    await expect(page.locator("#paths-summary tbody tr").nth(2).locator("td.why")).to_have_text(
        re.compile(r"^Node gone is unavailable"))
    await unclipped(page)
    assert await watched.inaccessible() == []
    assert await watched.problems() == []


async def test_stop_ends_every_part_and_the_tool_on_every_node(places: Places, browser: Browser) -> None:
    watched = await open_page(browser, width=1400)
    page = watched.page
    await page.goto(f"{places.front.base}/?tool=ping&target=127.0.0.1&count=16&nodes=lon1,fra1,gone")
    shown = parts(page)
    await expect(shown.nth(2).locator(".part-status")).to_have_text(
        "Node gone is unavailable: cannot connect (connection refused).")
    # The status counts the nodes that have finished while the others run.
    await expect(page.locator("#status")).to_have_text("Running ping to 127.0.0.1 from 3 nodes: 1 of 3 finished.")
    for i in range(2):  # each node's replies are coming, on the one chart
        await expect(page.locator(f"#nodes-chart circle.point.node-{i}").first).to_be_visible()
    assert tool_processes(places.fra1.process.pid)  # the node's ping is running
    await page.get_by_role("button", name="Stop").click()
    await expect(page.locator("#status")).to_have_text("Stopped ping to 127.0.0.1.")
    await expect(shown.locator(".part-status")).to_have_text(["Stopped.", "Stopped.", re.compile("unavailable")])
    assert await eventually(lambda: not tool_processes(places.fra1.process.pid)
                            and not tool_processes(places.front.process.pid), 2.0), "a ping is still running"
    assert await watched.problems() == []
