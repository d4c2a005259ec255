"""webtrace behind a real nginx, configured as the README says, on a unix socket."""

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from tests.browser.fixtures import open_page
from tests.edge.nginx import Nginx, nginx_in_front
from tests.helpers import eventually, sse_events
from tests.server import Server, running_server

pytestmark = pytest.mark.edge

ENV = {
    "WEBTRACE_PINGINTERVAL": "1",  # the README's default cadence: a line a second
    "WEBTRACE_PINGCOUNT": "3",
    "WEBTRACE_RATELIMIT": "2/minute",
    "WEBTRACE_TRUSTED_PROXIES": "",  # only nginx, on the unix socket, is believed
    "WEBTRACE_ALLOW_NETWORKS": "127.0.0.0/8",
}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Server, Nginx]]:
    async with running_server(tmp_path, ENV) as app:
        with nginx_in_front(tmp_path, tmp_path / "webtrace.sock") as nginx:
            yield app, nginx


def session(source: str = "127.0.0.1") -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0)))


async def test_sse_lines_arrive_as_ping_prints_them(stack: Any) -> None:
    _, nginx = stack
    async with session() as s:
        resp = await s.get(f"{nginx.root}/api/v1/ping", params={"target": "127.0.0.1"})
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
        arrivals = []
        async for event in sse_events(resp):
            if event.event == "reply":
                arrivals.append(time.monotonic())
            if event.event == "end":
                assert event.data["status"] == "ok"
    assert len(arrivals) == 3
    assert arrivals[1] - arrivals[0] > 0.7, "nginx held the first reply back"


async def test_text_lines_arrive_as_ping_prints_them(stack: Any) -> None:
    _, nginx = stack
    async with session() as s:
        resp = await s.get(f"{nginx.subpath}ping", params={"target": "127.0.0.1"})
        assert resp.status == 200
        arrivals = []
        async for line in resp.content:
            if b"icmp_seq=" in line:
                arrivals.append(time.monotonic())
    assert len(arrivals) == 3
    assert arrivals[1] - arrivals[0] > 0.7, "nginx held the first line back"


async def test_each_client_behind_nginx_has_its_own_budget(stack: Any) -> None:
    app, nginx = stack

    async def run(s: aiohttp.ClientSession, **headers: str) -> int:
        async with s.get(f"{nginx.root}/trace", params={"target": "127.0.0.1"}, headers=headers) as resp:
            await resp.read()
            return resp.status

    async with session("127.0.0.1") as one, session("127.0.0.2") as two:
        assert [await run(one), await run(one), await run(one)] == [200, 200, 429]
        assert await run(two, **{"X-Forwarded-For": "127.0.0.1"}) == 200  # a spoofed header changes nothing
        assert await run(two, **{"X-Forwarded-For": "198.51.100.9"}) == 200
        assert await run(two, **{"X-Forwarded-For": "198.51.100.10"}) == 429
    # The access log is written in batches: wait for the lines.
    assert await eventually(lambda: app.log.read_text().count("path='/trace'") == 6, 2)
    log = app.log.read_text()
    assert "client=127.0.0.2" in log and "client=198.51.100" not in log


async def test_static_files_served_by_nginx_itself(stack: Any) -> None:
    _, nginx = stack
    async with session() as s:
        resp = await s.get(f"{nginx.root}/static/style.css")
        assert resp.status == 200
        assert resp.headers["ETag"] and resp.headers["Last-Modified"]
        assert "max-age=3600" in resp.headers["Cache-Control"]
        assert "Content-Security-Policy" not in resp.headers  # not from the app: nginx read the file


async def test_the_page_works_under_a_sub_path(stack: Any, browser: Browser) -> None:
    _, nginx = stack
    watched = await open_page(browser)
    page = watched.page
    await page.goto(f"{nginx.subpath}?tool=ping&target=127.0.0.1")
    await expect(page.locator("#status")).to_contain_text("Finished in", timeout=20_000)
    await expect(page.locator("#chart .point")).to_have_count(3)
    assert page.url.startswith(f"{nginx.subpath}?tool=ping")
    # Plain text, once the run has ended, is its kept text: under the sub path too.
    href = await page.locator("#text-link").get_attribute("href")
    assert href is not None and href.startswith(f"{nginx.subpath}api/v1/results/") and href.endswith("?format=text")
    async with session() as s:
        resp = await s.get(href)
        assert resp.status == 200 and "64 bytes from 127.0.0.1" in await resp.text()
    assert await watched.problems() == []
