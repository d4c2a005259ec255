"""Browser fixtures: the real server on 127.0.0.1 and Debian's Chromium through Playwright.

Every page records console errors, uncaught exceptions and CSP violations, and
a test fails at teardown if any appeared. A refused request makes Chromium log
the failed load itself; tests that expect refusals say so (``page.expect_refused``).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.ipdbs import write_asn_db, write_geo_db
from tests.server import ServerProcess, server_process

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
ARTIFACTS = Path(__file__).parent.parent.parent / "artifacts" / "screenshots"
# axe-core from npm (make test installs it: tests/browser/axe/package.json), run inside the page.
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
AXE_SERIOUS = ("serious", "critical")
# Only 127.0.0.0/8 is allowed: ::1 stands in for a denied target without leaving the machine.
# Names are on: 127.0.0.1 is named in /etc/hosts, so no lookup leaves the machine.
BROWSER_ENV = {
    "WEBTRACE_ALLOW_NETWORKS": "127.0.0.0/8",
    "WEBTRACE_NAMES": "on",
    "WEBTRACE_MTRCOUNT": "5",
    "WEBTRACE_PINGCOUNT": "5",
    "WEBTRACE_RATELIMIT": "6/minute",
    "WEBTRACE_MAX_JOBS": "3",
    "WEBTRACE_MAX_JOBS_PER_CLIENT": "2",
    "WEBTRACE_SERVERINFO": "AS64500 test lab",
}
NETWORK_NOISE = ("Failed to load resource", "EventSource's response has a MIME type")
_clients = itertools.count(1)
expect.set_options(timeout=20_000)

RECORDER = """
window.__wt = { events: [], csp: [] };
document.addEventListener("securitypolicyviolation", (e) => {
  window.__wt.csp.push(`${e.violatedDirective} ${e.blockedURI}`);
});
const NativeEventSource = window.EventSource;
window.EventSource = class extends NativeEventSource {
  constructor(url, init) {
    super(url, init);
    // Registered before the page's own listeners: counts what was drawn *before* each event.
    for (const name of ["start", "hop", "reply", "end"]) {
      this.addEventListener(name, () => window.__wt.events.push({
        name,
        rows: document.querySelectorAll("#hops tbody tr").length,
        points: document.querySelectorAll("#chart .point, #chart .lost").length,
      }));
    }
  }
};
"""


def axe_source() -> Path:
    if not AXE.exists():
        pytest.skip("axe-core is not installed (make test installs it with npm)")
    return AXE


def client_address() -> str:
    """A distinct client per page (the server trusts loopback's X-Forwarded-For)."""
    n = next(_clients)
    return f"198.51.100.{n % 250 + 1}"


@pytest.fixture(scope="session")
def chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    return CHROMIUM


@pytest.fixture(scope="module")
def lg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The page's server, with test AS and country databases (127.0.0.0/8 is AS64500, NL)."""
    tmp = tmp_path_factory.mktemp("lg")
    env = {**BROWSER_ENV, "WEBTRACE_ASN_DB": str(write_asn_db(tmp / "asn.mmdb")),
           "WEBTRACE_GEO_DB": str(write_geo_db(tmp / "geo.mmdb"))}
    with server_process(tmp, env, unix=False) as server:
        yield server


@asynccontextmanager
async def launched(chromium: str) -> AsyncIterator[Browser]:
    """Debian's Chromium, started through Playwright's driver, closed on leaving."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with launched(chromium) as browser:
        yield browser


class Watched:
    """A page plus what went wrong on it."""

    def __init__(self, page: Page, client: str) -> None:
        self.page = page
        self.client = client
        self.errors: list[str] = []
        self.expect_refused = False
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    async def problems(self) -> list[str]:
        errors = [e for e in self.errors if not (self.expect_refused and e.startswith(NETWORK_NOISE))]
        csp = await self.page.evaluate("window.__wt ? window.__wt.csp : []")
        return errors + [f"CSP violation: {c}" for c in csp]

    async def events(self) -> list[dict[str, Any]]:
        return await self.page.evaluate("window.__wt.events")

    async def inaccessible(self) -> list[str]:
        """What axe-core finds of serious or critical impact on the page as it is now, one
        line per rule and the elements it found."""
        found = await self.page.evaluate("""async (impacts) => {
            const { violations } = await axe.run(document, { resultTypes: ["violations"] });
            return violations.filter((v) => impacts.includes(v.impact)).map(
                (v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
        }""", list(AXE_SERIOUS))
        return list(found)


async def open_page(browser: Browser, *, width: int = 1200, height: int = 900,
                    color_scheme: str = "light", client: str | None = None) -> Watched:
    client = client or client_address()
    context = await browser.new_context(
        viewport={"width": width, "height": height}, color_scheme=color_scheme,  # type: ignore[arg-type]
        extra_http_headers={"X-Forwarded-For": client},
    )
    await context.add_init_script(RECORDER)
    await context.add_init_script(path=axe_source())  # as the browser's own, outside the page's CSP
    page = await context.new_page()
    page.set_default_timeout(20_000)
    return Watched(page, client)


@pytest.fixture
async def watched(browser: Browser) -> AsyncIterator[Watched]:
    watched = await open_page(browser)
    yield watched
    assert await watched.problems() == []


def save_screenshot_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
