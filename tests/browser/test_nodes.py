"""Vantage points on the page: the node picker, parts side by side on a wide screen
and one under another on a phone, each with its own status; real webtrace
processes as the nodes, all on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.fixtures import BROWSER_ENV, open_page
from tests.helpers import free_port, eventually, tool_processes
from tests.server import ServerProcess, server_process

pytestmark = pytest.mark.browser

NODE_ENV = {**BROWSER_ENV, "WEBTRACE_RATELIMIT": "100/minute", "WEBTRACE_NAMES": "off"}


@dataclass
class Places:
    front: ServerProcess
    fra1: ServerProcess


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Places]:
    """A front (lon1) and its nodes: fra1, ams1 whose policy refuses loopback, and gone,
    where nothing answers."""
    tmp = tmp_path_factory.mktemp("places")
    for name in ("fra1", "ams1", "lon1"):
        (tmp / name).mkdir()
    with server_process(tmp / "fra1", {**NODE_ENV, "WEBTRACE_NODE_NAME": "fra1",
                                       "WEBTRACE_SERVERINFO": "Frankfurt"}, unix=False) as fra1, \
            server_process(tmp / "ams1", {**NODE_ENV, "WEBTRACE_NODE_NAME": "ams1", "WEBTRACE_SERVERINFO": "Amsterdam",
                                          "WEBTRACE_ALLOW_NETWORKS": ""}, unix=False) as ams1, \
            server_process(tmp / "lon1", {**NODE_ENV, "WEBTRACE_NODE_NAME": "lon1", "WEBTRACE_SERVERINFO": "London",
                                          "WEBTRACE_NODES": f"fra1={fra1.base},ams1={ams1.base},"
                                                            f"gone=http://127.0.0.1:{free_port()}",
                                          "WEBTRACE_NODES_CHECK_INTERVAL": "0.5"}, unix=False) as front:
        yield Places(front, fra1)


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
    await expect(page.locator('.node-state[data-node="gone"]')).to_have_text("down")
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
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert await watched.problems() == []


async def test_parts_one_under_another_on_a_phone(places: Places, browser: Browser) -> None:
    watched = await open_page(browser, width=375, height=800)
    page = watched.page
    await page.goto(f"{places.front.base}/?tool=traceroute&target=127.0.0.1&nodes=lon1,fra1")
    await expect(page.locator("#status")).to_have_text("Done: every node finished.")
    shown = parts(page)
    await expect(shown).to_have_count(2)
    first, second = await shown.nth(0).bounding_box(), await shown.nth(1).bounding_box()
    assert first and second and first["x"] == second["x"] and second["y"] > first["y"]
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await expect(shown.nth(1).locator("#hops--fra1 tbody tr")).to_have_count(1)
    assert await watched.problems() == []


async def test_stop_ends_every_part_and_the_tool_on_every_node(places: Places, browser: Browser) -> None:
    watched = await open_page(browser, width=1400)
    page = watched.page
    await page.goto(f"{places.front.base}/?tool=ping&target=127.0.0.1&count=16&nodes=lon1,fra1,gone")
    shown = parts(page)
    await expect(shown.nth(2).locator(".part-status")).to_have_text(
        "Node gone is unavailable: cannot connect (connection refused).")
    for i in range(2):  # each node's replies are coming, on the one chart
        await expect(page.locator(f"#nodes-chart circle.point.node-{i}").first).to_be_visible()
    assert tool_processes(places.fra1.process.pid)  # the node's ping is running
    await page.get_by_role("button", name="Stop").click()
    await expect(page.locator("#status")).to_have_text("Stopped ping to 127.0.0.1.")
    await expect(shown.locator(".part-status")).to_have_text(["Stopped.", "Stopped.", re.compile("unavailable")])
    assert await eventually(lambda: not tool_processes(places.fra1.process.pid)
                            and not tool_processes(places.front.process.pid), 2.0), "a ping is still running"
    assert await watched.problems() == []
