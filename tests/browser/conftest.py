"""The browser layer shares one Chromium (and one Playwright driver) for all its tests:
starting them took about a second a test. Each test still gets browser contexts of its
own, closed after it, so no cookie, storage or page crosses from one test to the next.

Playwright's objects belong to the event loop that made them, so the layer's tests and
its async fixtures run in the session's loop (tests elsewhere that drive a page, in the
edge and netlab layers, start a Chromium of their own: tests/browser/fixtures.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser

from tests.browser.fixtures import Watched, launched, open_page

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_browser(chromium: str) -> AsyncIterator[Browser]:
    async with launched(chromium) as browser:
        yield browser


@pytest_asyncio.fixture(loop_scope="session")
async def browser(shared_browser: Browser) -> AsyncIterator[Browser]:
    yield shared_browser
    for context in shared_browser.contexts:  # what the test opened
        await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def watched(browser: Browser) -> AsyncIterator[Watched]:
    watched = await open_page(browser)
    yield watched
    assert await watched.problems() == []
