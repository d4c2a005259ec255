"""The page as a person reads it: the ping chart's shape, axes and values; mtr copied
as a report; the form's order for the keyboard; and axe-core on every state of the
page, light and dark. Real server, real tools, Debian's Chromium."""

from __future__ import annotations

import math
import re

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from tests.browser.fixtures import open_page
from tests.server import ServerProcess

pytestmark = pytest.mark.browser

FINISHED = re.compile(r"^Finished in")
RESULT_ID = re.compile(r"/r/([\w-]{22})$")

# Each text and dot drawn at 1:1 (x and y scaled alike, and by 1): undistorted at any width.
SHAPES = """svg => [...svg.querySelectorAll("text, circle")].filter((el) => el.getBBox().width > 0).map((el) => {
  const box = el.getBBox(), shown = el.getBoundingClientRect();
  return [shown.width / box.width, shown.height / box.height];
})"""


@pytest.mark.parametrize(("width", "scheme"), [(1366, "light"), (375, "dark")])
async def test_the_ping_chart_keeps_its_shape_and_tells_each_probe(
        lg: ServerProcess, browser: Browser, width: int, scheme: str) -> None:
    watched = await open_page(browser, width=width, height=900, color_scheme=scheme)
    page = watched.page
    await page.goto(f"{lg.base}/?tool=ping&target=127.0.0.1&count=4")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    chart = page.locator("#chart")
    for sx, sy in await chart.evaluate(SHAPES):
        assert abs(sx - 1) < 0.01 and abs(sy - 1) < 0.01, (sx, sy)
    # A latency axis in ms with gridlines at round values, and a labelled time axis.
    ticks = await chart.locator("text.tick").all_text_contents()
    times = [t for t in ticks if t.endswith(" s")]
    latencies = [float(t) for t in ticks if not t.endswith(" s")]
    assert latencies[0] == 0 and len(latencies) >= 2 and await chart.locator("line.grid").count() == len(latencies)
    steps = {round(b - a, 9) for a, b in zip(latencies, latencies[1:])}
    assert len(steps) == 1
    step = steps.pop()
    assert round(step / 10 ** math.floor(math.log10(step)), 6) in (1, 2, 5), step  # round values
    assert times[0] == "0 s" and len(times) >= 2
    await expect(chart.locator("text.unit")).to_have_text(["ms", "time since the first probe"])
    # Each probe's value: on hover, and on keyboard focus, one probe after another.
    points = chart.locator(".point")
    await expect(points).to_have_count(4)
    tip = chart.locator(".tip")
    # The tip never covers the probe it tells, nor takes the pointer from it (the highest
    # probe sits at the top of the chart, where a tip above it has no room).
    assert await tip.evaluate("t => getComputedStyle(t).pointerEvents") == "none"
    for n in range(4):
        await points.nth(n).hover()
        await expect(tip).to_be_visible()
        await expect(tip).to_have_text(re.compile(rf"^#{n + 1} at [\d.]+ s: \d+(\.\d+)? ms$"))
        box, mark = await tip.bounding_box(), await points.nth(n).bounding_box()
        assert box is not None and mark is not None
        assert box["y"] + box["height"] <= mark["y"] or box["y"] >= mark["y"] + mark["height"], (n, box, mark)
    await points.first.focus()
    await expect(tip).to_have_text(re.compile(r"^#1 at 0 s: "))
    await page.keyboard.press("Tab")
    await expect(tip).to_have_text(re.compile(r"^#2 at [\d.]+ s: "))
    await expect(points.nth(1)).to_be_focused()
    # Readable in dark mode: the page's own colours for the text and the line.
    fill = await chart.locator("text.tick").first.evaluate("t => getComputedStyle(t).fill")
    assert fill == ("rgb(145, 152, 161)" if scheme == "dark" else "rgb(87, 96, 106)")
    assert await watched.problems() == []


async def test_mtr_is_copied_and_shown_as_its_report(lg: ServerProcess, browser: Browser) -> None:
    watched = await open_page(browser, width=1366)
    page = watched.page
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.goto(f"{lg.base}/?tool=mtr&target=127.0.0.1&count=2")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await page.get_by_role("button", name="Copy output").click()
    copied = await page.evaluate("navigator.clipboard.readText()")
    await page.get_by_text("Raw output").click()
    shown = await page.locator("#output").text_content()
    assert shown == copied
    # The same table the text route prints for this result.
    link = await page.locator("#result-link").get_attribute("href")
    assert link is not None and (found := RESULT_ID.search(link))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{lg.base}/api/v1/results/{found[1]}", params={"format": "text"}) as resp:
            text = await resp.text()
    table = [line for line in text.splitlines() if re.match(r"^ +\d+\.\|-- ", line)]
    assert table and [line for line in copied.splitlines() if re.match(r"^ +\d+\.\|-- ", line)] == table
    assert re.search(r"^HOST: \S+ +Loss% +Snt +Last +Avg +Best +Wrst +StDev$", copied, re.MULTILINE)
    assert "AS64500 localhost (127.0.0.1) [NL]" in copied
    # mtr's own records, for those who want them, behind a toggle of their own.
    records = page.locator("#records")
    await expect(records.locator("#records-output")).to_be_hidden()
    await records.get_by_text("Protocol records").click()
    await expect(records.locator("#records-output")).to_contain_text("h 0 127.0.0.1")
    assert await watched.problems() == []


async def test_the_target_comes_first_for_the_keyboard(lg: ServerProcess, browser: Browser) -> None:
    watched = await open_page(browser, width=1366)
    page = watched.page
    await page.goto(lg.base)
    target = page.get_by_label("Target")
    await expect(target).to_be_focused()  # ready to type on load
    await page.keyboard.press("Shift+Tab")
    skip = page.get_by_role("link", name="Skip to the results")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_visible()  # shown while it has focus
    await page.keyboard.press("Tab")
    await expect(target).to_be_focused()  # first after the skip link
    assert await watched.problems() == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_no_serious_accessibility_problem_in_any_state(lg: ServerProcess, browser: Browser,
                                                             scheme: str) -> None:
    watched = await open_page(browser, width=1366, color_scheme=scheme)
    page = watched.page
    seen: dict[str, list[str]] = {}
    await page.goto(lg.base)
    seen["form"] = await watched.inaccessible()
    await page.goto(f"{lg.base}/?tool=ping&target=127.0.0.1&count=5")
    await expect(page.locator("#chart .point").first).to_be_visible()
    seen["running"] = await watched.inaccessible()
    await expect(page.locator("#status")).to_have_text(FINISHED)
    seen["finished"] = await watched.inaccessible()
    link = await page.locator("#result-link").get_attribute("href")
    assert link is not None
    await page.goto(link)
    await expect(page.locator("#status")).to_have_text(re.compile(r"^Finished in|^Showing"))
    seen["result"] = await watched.inaccessible()
    await page.goto(f"{lg.base}/?tool=mtr&target=127.0.0.1&count=1")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await page.get_by_text("Raw output").click()
    seen["mtr"] = await watched.inaccessible()
    watched.expect_refused = True
    await page.goto(f"{lg.base}/?tool=ping&target=::1")
    await expect(page.get_by_role("alert")).to_have_text("::1 is a loopback address.")
    seen["refused"] = await watched.inaccessible()
    await page.goto(f"{lg.base}/r/AAAAAAAAAAAAAAAAAAAAAA")
    await expect(page.locator(".missing")).to_be_visible()
    seen["404"] = await watched.inaccessible()
    assert {state: found for state, found in seen.items() if found} == {}
    assert await watched.problems() == []
