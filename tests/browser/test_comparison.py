"""Comparisons in Chromium: "Run again and compare" on a result's page, and the
comparison's own page, at 1366 px and 375 px, light and dark."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.fixtures import open_page
from tests.server import ServerProcess

pytestmark = pytest.mark.browser

FINISHED = re.compile(r"^Finished in")
RESULT_LINK = re.compile(r"/r/([A-Za-z0-9_-]{22})$")
COMPARE_LINK = re.compile(r"/compare/([A-Za-z0-9_-]{22})/([A-Za-z0-9_-]{22})$")


async def a_result(page: Page, base: str, query: str) -> str:
    await page.goto(f"{base}/?{query}")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    href = await page.locator("#result-link").get_attribute("href")
    assert href is not None and RESULT_LINK.search(href)
    return href


async def nothing_clipped(page: Page) -> None:
    """Every table fits its box, or the box scrolls it sideways (a visible, focusable cue)."""
    clipped = await page.evaluate("""() => [...document.querySelectorAll('table')]
        .filter((t) => t.offsetParent !== null)
        .filter((t) => {
          const box = t.closest('.table-wrap') || t.parentElement;
          const scrolls = ['auto', 'scroll'].includes(getComputedStyle(box).overflowX);
          return t.scrollWidth > t.clientWidth + 1 || (box.scrollWidth > box.clientWidth + 1 && !scrolls);
        }).map((t) => t.className)""")
    assert clipped == []


async def test_run_again_and_compare_shows_the_comparison_as_the_new_run_streams(
        lg: ServerProcess, browser: Browser) -> None:
    watched = await open_page(browser, width=1366)
    page = watched.page
    href = await a_result(page, lg.base, "tool=mtr&target=127.0.0.1&count=3")
    old = RESULT_LINK.search(href)[1]  # type: ignore[index]
    await page.goto(href)
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await page.get_by_role("button", name="Run again and compare").click()
    # While the new run streams, the comparison is there and follows it.
    await expect(page.locator("#verdict")).to_have_text(re.compile(r"^Same path"))
    link = page.get_by_role("link", name="Link to this comparison")
    await expect(link).to_have_attribute("href", COMPARE_LINK)
    await expect(page.locator("#status")).to_have_text(FINISHED)
    found = COMPARE_LINK.search(await link.get_attribute("href") or "")
    assert found is not None and found[1] == old and found[2] != old  # the new run is a result of its own
    new_href = await page.locator("#result-link").get_attribute("href")
    assert new_href is not None and new_href.endswith(f"/r/{found[2]}")
    rows = page.locator("#comparison-places tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator("td.state")).to_have_text("same")
    await expect(rows.first).to_contain_text("AS64500")
    await nothing_clipped(page)
    assert await watched.problems() == []


@pytest.mark.parametrize(("width", "scheme"), [(1366, "light"), (375, "dark")])
async def test_a_comparison_s_own_page(lg: ServerProcess, browser: Browser, width: int, scheme: str) -> None:
    watched = await open_page(browser, width=width, color_scheme=scheme)
    page = watched.page
    first = RESULT_LINK.search(await a_result(page, lg.base, "tool=ping&target=127.0.0.1&count=3"))
    second = RESULT_LINK.search(await a_result(page, lg.base, "tool=ping&target=127.0.0.1&count=4"))
    assert first and second
    await page.goto(f"{lg.base}/compare/{first[1]}/{second[1]}")
    await expect(page.locator("#verdict")).to_have_text(re.compile(r"^Avg [+-]\d+\.\d ms, loss 0 % -> 0 %\.$"))
    await expect(page.locator("#comparison-places table th[scope=row]")).to_have_text(
        ["Sent", "Received", "Loss", "Min", "Avg", "Max"])
    await expect(page.locator("#comparison-places tbody tr").first).to_contain_text("3 → 4")
    chart = page.locator(".comparison-chart svg")
    await expect(chart.locator("polyline")).to_have_count(2)  # then and now, on one chart
    await expect(page.locator(".comparison-chart .legend")).to_contain_text("a then, b now")
    await expect(page.get_by_label("Target")).to_have_value("127.0.0.1")
    await expect(page.locator("#result")).to_be_hidden()  # no empty run under the comparison
    await nothing_clipped(page)
    assert await watched.problems() == []
