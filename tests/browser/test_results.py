"""Results in Chromium: a second page follows a running mtr live, a result page
after the end, an expired id, embed mode, and a stream cut mid-run that resumes."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, expect
from ripe.atlas.sagan import Result as AtlasResult  # type: ignore[import-untyped]

from tests.browser.fixtures import Watched, open_page
from tests.browser.relay import relay_to
from tests.server import ServerProcess
from webtrace.results.sqlite import SqliteStore
from webtrace.results.store import Batch

pytestmark = pytest.mark.browser

FINISHED = re.compile(r"^Finished in")
RESULT_LINK = re.compile(r"/r/([A-Za-z0-9_-]{22})$")
# mtr's progress while it runs (a count a second) is waited for as a range of counts:
# Playwright may look a second apart, and can miss any one count.


async def result_json(lg: ServerProcess, result_id: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{lg.base}/api/v1/results/{result_id}") as resp:
            assert resp.status == 200
            return await resp.json()  # type: ignore[no-any-return]


async def test_a_second_page_follows_a_running_mtr_live(lg: ServerProcess, browser: Browser) -> None:
    # 16 cycles at 0.2 s (tests/server.py), and mtr's short wait for late answers after them.
    first, second = await open_page(browser), await open_page(browser)
    await first.page.goto(f"{lg.base}/?tool=mtr&target=127.0.0.1&count=16")
    link = first.page.locator("#result-link")
    await expect(link).to_have_attribute("href", RESULT_LINK)
    href = await link.get_attribute("href")
    assert href is not None
    # 2.6 s or more to go:
    await expect(first.page.locator("#progress-label")).to_have_text(re.compile(r"^[1-3] of 16$"))
    # Opened while the run goes on: it fills in live, from the first event, as the first page does.
    await second.page.goto(href)
    await expect(second.page.locator("#taken")).to_contain_text("Taken ")
    await expect(second.page.locator("#hops tbody tr")).to_have_count(1)
    await expect(second.page.locator("#progress-label")).not_to_have_text("16 of 16")  # not finished when it opened
    await expect(second.page.locator("#status")).to_have_text(FINISHED)
    await expect(first.page.locator("#status")).to_have_text(FINISHED)
    await expect(second.page.locator("#progress-label")).to_have_text("16 of 16")
    assert await second.page.locator("#output").text_content() == await first.page.locator("#output").text_content()
    assert await first.problems() == [] and await second.problems() == []


async def test_a_result_page_after_the_end_and_its_links(lg: ServerProcess, browser: Browser) -> None:
    watched = await open_page(browser)
    page = watched.page
    await page.goto(f"{lg.base}/?tool=traceroute&target=127.0.0.1")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    href = await page.locator("#result-link").get_attribute("href")
    assert href is not None and (found := RESULT_LINK.search(href))
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.get_by_role("button", name="Copy link").click()
    assert await page.evaluate("navigator.clipboard.readText()") == href  # the result's link, not a re-run
    await page.goto(href)
    await page.reload()
    await expect(page.locator("#status")).to_have_text(FINISHED)
    row = page.locator("#hops tbody tr").first
    await expect(row.locator("button.host")).to_have_text("localhost (127.0.0.1)")
    await expect(page.locator("#command")).to_have_text(re.compile(r"^traceroute -n "))
    await expect(page.get_by_label("Target")).to_have_value("127.0.0.1")
    stored = await result_json(lg, found[1])
    taken = re.compile(rf"^Taken \d{{4}}-\d\d-\d\d .* UTC on {stored['node']}\.")
    await expect(page.locator("#taken")).to_have_text(taken)
    again = page.get_by_role("link", name="Run again")
    assert (await again.get_attribute("href") or "").endswith("?tool=traceroute&target=127.0.0.1&family=4&protocol=udp")
    await again.click()
    await expect(page.locator("#status")).to_have_text(FINISHED)
    assert page.url.endswith("?tool=traceroute&target=127.0.0.1&family=4&protocol=udp")
    assert await watched.problems() == []


async def test_an_unknown_result_says_so(lg: ServerProcess, watched: Watched) -> None:
    watched.expect_refused = True  # the page itself is a 404
    response = await watched.page.goto(f"{lg.base}/r/AAAAAAAAAAAAAAAAAAAAAA")
    assert response is not None and response.status == 404
    await expect(watched.page.get_by_role("heading", name="No such result")).to_be_visible()
    await expect(watched.page.get_by_text("It may have expired, or the link is wrong.")).to_be_visible()


async def test_a_result_page_in_embed_mode(lg: ServerProcess, watched: Watched) -> None:
    page = watched.page
    await page.goto(f"{lg.base}/?tool=ping&target=127.0.0.1&count=2&embed=1")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    href = await page.locator("#result-link").get_attribute("href")
    assert href is not None and href.endswith("embed=1")
    await page.goto(href)
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await expect(page.locator("header.site")).to_have_count(0)
    await expect(page.locator("#ping-summary")).to_contain_text("2 sent")


async def test_a_stream_cut_mid_run_resumes_from_its_result(lg: ServerProcess, watched: Watched) -> None:
    """The page's connection breaks off in the middle of a run (a blip the server does
    not see); the page picks the run up from its result, live, losing and repeating nothing."""
    watched.expect_refused = True  # the cut itself is a failed load
    page = watched.page
    async with relay_to(lg.base) as relay:
        await page.goto(f"http://127.0.0.1:{relay.port}/?tool=mtr&target=127.0.0.1&count=5")
        await expect(page.locator("#progress-label")).to_have_text(re.compile(r"^[1-4] of 5$"))  # mid-run
        href = await page.locator("#result-link").get_attribute("href")
        assert href is not None and (found := RESULT_LINK.search(href))
        relay.blip()
        await expect(page.locator("#status")).to_have_text(FINISHED)
    stored = await result_json(lg, found[1])
    assert stored["status"] == "ok"  # the run went on meanwhile
    lines = [e["data"]["text"] for e in stored["events"] if e["event"] == "line"]  # type: ignore[attr-defined]
    # mtr's records, each once (behind "Protocol records": the raw view is its report)
    assert await page.locator("#records-output").text_content() == "".join(f"{line}\n" for line in lines)
    await expect(page.locator("#progress-label")).to_have_text("5 of 5")
    await expect(page.get_by_role("alert")).to_be_hidden()


async def test_a_result_whose_run_died_with_its_server_says_so(lg: ServerProcess, watched: Watched) -> None:
    # As a server killed mid-run leaves it in its file: a start, a line, and no end.
    store = SqliteStore(lg.log.parent / "state" / "webtrace" / "results.sqlite3", 3600)
    start = {"tool": "ping", "target": "127.0.0.1", "address": "127.0.0.1", "family": "4", "protocol": "icmp",
             "port": None, "count": 5, "command": "ping -n 127.0.0.1", "result": "k" * 22}
    await store.save([Batch("k" * 22, meta={**start, "node": "killed"}, started_at=time.time(),
                            events=[(1, "start", start), (2, "line", {"text": "PING 127.0.0.1 (127.0.0.1) 56(84)"})])])
    await store.close()
    await watched.page.goto(f"{lg.base}/r/{'k' * 22}")
    await expect(watched.page.locator("#error")).to_contain_text("stopped before its end was stored")
    await expect(watched.page.locator("#output")).to_contain_text("PING 127.0.0.1")
    await expect(watched.page.locator("#run")).to_be_enabled()  # nothing left running on the page


async def test_a_finished_run_downloads_in_the_formats_its_tool_fits_and_reads_its_kept_text(
        lg: ServerProcess, browser: Browser, tmp_path: Path) -> None:
    watched = await open_page(browser)
    page = watched.page
    await page.goto(f"{lg.base}/?tool=ping&target=127.0.0.1")
    downloads = page.locator("#downloads")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await expect(downloads).to_be_visible()
    await downloads.get_by_text("Download").click()
    links = downloads.get_by_role("link")
    await expect(links).to_have_text(["JSON", "Text", "RIPE Atlas JSON", "CSV"])  # no mtr JSON for ping
    async with page.expect_download() as caught:
        await downloads.get_by_role("link", name="RIPE Atlas JSON").click()
    download = await caught.value
    assert re.fullmatch(r"webtrace-ping-127\.0\.0\.1-\d{8}T\d{6}Z\.atlas\.json", download.suggested_filename)
    await download.save_as(tmp_path / "atlas.json")
    [read] = json.loads((tmp_path / "atlas.json").read_text())
    strict = {"on_error": AtlasResult.ACTION_FAIL, "on_malformation": AtlasResult.ACTION_FAIL}
    assert AtlasResult.get(read, **strict).packets_received == read["sent"]
    # Plain text is the kept text now, not the query run again.
    href = await page.locator("#result-link").get_attribute("href")
    assert href is not None and (found := RESULT_LINK.search(href))
    text = page.get_by_role("link", name="Plain text")
    assert (await text.get_attribute("href") or "").endswith(f"/api/v1/results/{found[1]}?format=text")
    # On the result's own page: the kept text at once, the downloads once it has replayed to its end.
    await page.goto(href)
    assert (await text.get_attribute("href") or "").endswith(f"/api/v1/results/{found[1]}?format=text")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await expect(downloads).to_be_visible()
    assert await watched.problems() == []
    async with aiohttp.ClientSession() as session:
        async with session.get(await text.get_attribute("href") or "") as resp:
            assert re.search(r"^64 bytes from 127\.0\.0\.1: icmp_seq=1 ", await resp.text(), re.M)
    # A run that was refused has no result: nothing to download.
    watched.expect_refused = True
    await page.goto(f"{lg.base}/?tool=ping&target=127.0.0.1&count=999")
    await expect(page.locator("#error")).to_be_visible()
    await expect(downloads).to_be_hidden()
    assert await watched.problems() == []
