"""The page in Chromium, against the real server and the real tools on loopback."""

import os
import re
import signal
from pathlib import Path

import aiohttp
import psutil
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.fixtures import BROWSER_ENV, Watched, open_page, save_screenshot_dir
from tests.helpers import eventually, eventually_async, tool_processes
from tests.server import ServerProcess, server_process

pytestmark = pytest.mark.browser

FINISHED = re.compile(r"^Finished in")


async def run_from_form(page: Page, tool: str, target: str, family: str = "auto") -> None:
    await page.get_by_label(tool, exact=True).check()
    await page.get_by_label("Target").fill(target)
    await page.get_by_label("Address family").select_option(family)
    await page.get_by_label("Target").press("Enter")  # Enter runs


async def test_mtr_table_fills_live_and_hosts_become_targets(lg: ServerProcess, watched: Watched) -> None:
    page = watched.page
    await page.goto(lg.base)
    await expect(page.get_by_role("heading", name="webtrace")).to_be_visible()
    await expect(page.get_by_text("AS64500 test lab")).to_be_visible()
    await run_from_form(page, "mtr", "127.0.0.1")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    events = await watched.events()
    end = [e for e in events if e["name"] == "end"][0]
    assert end["rows"] == 1, "the hop row must be on the page before the run ends"
    row = page.locator("#hops tbody tr").first
    await expect(row.locator("td").nth(0)).to_have_text("1")
    await expect(row.locator("td.hosts")).to_contain_text("127.0.0.1")
    await expect(row.locator("td").nth(2)).to_have_text("0.0%")
    await expect(row.locator("td").nth(3)).to_have_text(re.compile(r"^\d+\.\d+$"))  # Avg, beside Loss
    await expect(row.locator("td.history-col svg.spark")).to_have_attribute(  # Recent: each cycle's time
        "aria-label", re.compile(r"^hop 1, last 5 cycles: 0 lost, "))
    await expect(row.locator("td").nth(5)).to_have_text("5")
    await expect(row).not_to_have_class(re.compile(r"\blossy\b"))  # nothing lost on loopback
    await expect(page.locator("#progress-label")).to_have_text("5 of 5")
    await expect(page.locator("#command")).to_have_text(re.compile(r"^mtr --raw --no-dns -c 5 .* 127\.0\.0\.1$"))
    assert page.url.endswith("?tool=mtr&target=127.0.0.1&family=auto")
    await page.get_by_label("Target").fill("")
    await row.locator("button.host").first.click()
    await expect(page.get_by_label("Target")).to_have_value("127.0.0.1")


async def test_traceroute_hops_appear_before_the_end(lg: ServerProcess, watched: Watched) -> None:
    page = watched.page
    await page.goto(lg.base)
    await run_from_form(page, "traceroute", "localhost", "4")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    end = [e for e in await watched.events() if e["name"] == "end"][0]
    assert end["rows"] == 1
    await expect(page.locator("#hops tbody tr td.hosts")).to_have_text(re.compile(r"localhost\s*\(127\.0\.0\.1\)"))
    await expect(page.locator("#progress-row")).to_be_hidden()


async def test_ping_chart_and_summary(lg: ServerProcess, watched: Watched) -> None:
    page = watched.page
    await page.goto(lg.base)
    await run_from_form(page, "ping", "127.0.0.1")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    events = await watched.events()
    # Drawn as the replies come, once a frame: ping's last reply and its end may share one.
    assert [e["points"] for e in events if e["name"] == "reply"][:3] == [0, 1, 2]
    await expect(page.locator("#chart .point")).to_have_count(5)
    await expect(page.locator("#ping-summary")).to_have_text(re.compile(r"^5 sent, 5 received, 0% loss · min/avg/max"))
    await page.get_by_text("Raw output").click()
    await expect(page.locator("#output")).to_contain_text("5 packets transmitted, 5 received")


async def test_stop_ends_the_tool_on_the_server(browser: Browser, tmp_path: Path) -> None:
    with server_process(tmp_path, {**BROWSER_ENV, "WEBTRACE_MTRCOUNT": "100"}, unix=False) as lg:
        watched = await open_page(browser)
        page = watched.page
        await page.goto(f"{lg.base}/?tool=mtr&target=127.0.0.1")
        await expect(page.locator("#hops tbody tr")).to_have_count(1)
        assert {p.name() for p in tool_processes(lg.process.pid)} >= {"mtr", "mtr-packet"}
        await page.get_by_role("button", name="Stop").click()
        await expect(page.locator("#status")).to_have_text("Stopped mtr to 127.0.0.1.")
        await expect(page.get_by_role("button", name="Run")).to_be_enabled()
        assert await eventually(lambda: tool_processes(lg.process.pid) == [], 2.0), "mtr is still running"
        assert await watched.problems() == []


async def test_permalinks_and_the_original_links_run_on_open(lg: ServerProcess, browser: Browser) -> None:
    watched = await open_page(browser)
    page = watched.page
    await page.goto(f"{lg.base}/?tool=ping&target=127.0.0.1&family=4")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await expect(page.get_by_label("ping", exact=True)).to_be_checked()
    await page.goto(f"{lg.base}/?target=localhost&action=trace&aftype=ipv4")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    assert page.url.endswith("/?tool=traceroute&target=localhost&family=4")
    await expect(page.get_by_label("Address family")).to_have_value("4")
    assert await watched.problems() == []


async def test_back_and_forward_move_between_runs(lg: ServerProcess, watched: Watched) -> None:
    page = watched.page
    await page.goto(lg.base)
    await run_from_form(page, "traceroute", "127.0.0.1")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await run_from_form(page, "ping", "127.0.0.2")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await page.go_back()
    await expect(page.get_by_label("Target")).to_have_value("127.0.0.1")
    await expect(page.get_by_label("traceroute", exact=True)).to_be_checked()
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await expect(page.locator("#hops-view")).to_be_visible()
    await page.go_forward()
    await expect(page.get_by_label("Target")).to_have_value("127.0.0.2")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await expect(page.locator("#ping-view")).to_be_visible()


@pytest.mark.parametrize(
    ("target", "family", "message"),
    [
        ("-f", "auto", "The target must not start with '-'."),
        ("::1", "auto", "::1 is a loopback address."),
        ("127.0.0.1", "6", "127.0.0.1 is not an IPv6 address."),
    ],
)
async def test_refusals_are_explained(
    lg: ServerProcess, watched: Watched, target: str, family: str, message: str
) -> None:
    watched.expect_refused = True
    page = watched.page
    await page.goto(lg.base)
    await run_from_form(page, "ping", target, family)
    await expect(page.get_by_role("alert")).to_have_text(message)
    await expect(page.locator("#status")).to_have_text("The run was refused.")
    await expect(page.get_by_role("button", name="Run")).to_be_enabled()
    # Its sentence and nothing of a run that did not happen: no command, bar, table or buttons.
    await expect(page.locator("#result")).to_be_hidden()
    for what in ("#command", "#progress", "#hops", "#copy-output", "#copy-link"):
        await expect(page.locator(what)).to_be_hidden()


async def test_rate_limit_says_when_to_try_again(lg: ServerProcess, watched: Watched) -> None:
    watched.expect_refused = True
    async with aiohttp.ClientSession(headers={"X-Forwarded-For": watched.client}) as session:
        for _ in range(6):  # spend the visitor's budget
            async with session.get(f"{lg.base}/trace", params={"target": "127.0.0.1"}) as resp:
                await resp.read()
    page = watched.page
    await page.goto(f"{lg.base}/?tool=ping&target=127.0.0.1")
    await expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"^Too many runs: the limit is 6 per 1 minute\. Try again in \d+ s\.$"))


async def test_busy_server_and_busy_visitor(lg: ServerProcess, watched: Watched) -> None:
    watched.expect_refused = True
    page = watched.page
    async with aiohttp.ClientSession() as session:
        streams = []
        # Two long runs from this visitor, one from another: every slot is taken.
        for client in (watched.client, watched.client, "203.0.113.200"):
            resp = await session.get(f"{lg.base}/api/v1/mtr", params={"target": "127.0.0.1"},
                                     headers={"X-Forwarded-For": client})
            assert resp.status == 200
            streams.append(resp)
        try:
            await page.goto(f"{lg.base}/?tool=ping&target=127.0.0.1")
            await expect(page.get_by_role("alert")).to_have_text(
                "You already have 2 runs in progress; wait for one to finish. Try again in 5 s.")
            # One of the visitor's runs ends and a third client takes its slot: now the
            # visitor is within its own cap, but the server is full.
            streams[0].close()

            def runs() -> list[int]:  # one group leader per run (mtr forks helpers of its own)
                leaders = []
                for c in psutil.Process(lg.process.pid).children(recursive=True):
                    try:
                        if c.name() == "mtr" and c.status() != psutil.STATUS_ZOMBIE and os.getpgid(c.pid) == c.pid:
                            leaders.append(c.pid)
                    except (psutil.NoSuchProcess, ProcessLookupError):
                        pass
                return leaders

            assert await eventually(lambda: len(runs()) == 2, 2), "the closed stream's mtr is still running"

            async def slot_given_back() -> bool:  # the run ends after its tool: reaped, then its slot freed
                async with session.get(f"{lg.base}/metrics") as metrics:
                    return "webtrace_active_runs 2.0" in await metrics.text()

            assert await eventually_async(slot_given_back, 5), "the closed stream's run still holds its slot"
            resp = await session.get(f"{lg.base}/api/v1/mtr", params={"target": "127.0.0.1"},
                                     headers={"X-Forwarded-For": "203.0.113.201"})
            assert resp.status == 200
            streams.append(resp)
            await page.get_by_role("button", name="Run").click()
            await expect(page.get_by_role("alert")).to_have_text(re.compile(r"^The server is busy"))
        finally:
            for resp in streams:
                resp.close()


async def test_a_lost_connection_is_reported(browser: Browser, tmp_path: Path) -> None:
    with server_process(tmp_path, {**BROWSER_ENV, "WEBTRACE_MTRCOUNT": "100"}, unix=False) as lg:
        watched = await open_page(browser)
        watched.expect_refused = True
        page = watched.page
        await page.goto(f"{lg.base}/?tool=mtr&target=127.0.0.1")
        await expect(page.locator("#hops tbody tr")).to_have_count(1)
        lg.process.send_signal(signal.SIGKILL)
        await expect(page.get_by_role("alert")).to_have_text(
            "The connection to the server was lost before the run finished.")
        await expect(page.locator("#hops tbody tr")).to_have_count(1)  # what was shown stays
        errors = [e for e in await watched.problems() if "ERR_INCOMPLETE_CHUNKED_ENCODING" not in e]
        assert errors == []


async def test_hostile_tool_output_is_only_text(browser: Browser, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ping"
    fake.write_text(f"#!/bin/sh\nexec python3 {Path(__file__).parent.parent / 'fakes' / 'hostile.py'}\n")
    fake.chmod(0o755)
    env = {**BROWSER_ENV, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    with server_process(tmp_path, env, unix=False) as lg:
        watched = await open_page(browser)
        page = watched.page
        dialogs: list[str] = []
        page.on("dialog", lambda d: dialogs.append(d.message))
        await page.goto(f"{lg.base}/?tool=ping&target=127.0.0.1")
        await expect(page.locator("#status")).to_have_text(FINISHED)
        await page.get_by_text("Raw output").click()
        output = page.locator("#output")
        await expect(output).to_contain_text("<img src=x onerror=")
        await expect(output).to_contain_text("<script>document.title='pwned'</script>")
        await expect(output).to_contain_text("event: end")
        assert await output.locator("*").count() == 0  # text nodes only
        assert await page.title() == "webtrace"
        assert await page.locator("img, script:not([src])").count() == 0
        assert dialogs == []
        text = await output.text_content()
        assert text is not None and "line with\rcarriage return" in text
        assert await watched.problems() == []


async def test_phone_width_has_no_horizontal_overflow(lg: ServerProcess, browser: Browser) -> None:
    watched = await open_page(browser, width=375, height=740)
    page = watched.page
    await page.goto(f"{lg.base}/?tool=mtr&target=127.0.0.1")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await page.get_by_text("Raw output").click()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    wrap = await page.locator("#hops-view .table-wrap").evaluate("w => [w.scrollWidth, w.clientWidth]")
    assert wrap[0] > wrap[1]  # the wide table scrolls inside its box
    await expect(page.locator("#hops-view .scroll-cue")).to_be_visible()  # and says so
    # What a person reads first is in view without scrolling: the host, its loss and its average.
    row = page.locator("#hops tbody tr").first
    for cell in (row.locator("td.hosts"), row.locator("td").nth(2), row.locator("td").nth(3)):
        box = await cell.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 375, box
    assert await watched.problems() == []


async def test_no_scroll_cue_where_the_table_fits(lg: ServerProcess, watched: Watched) -> None:
    page = watched.page
    await page.goto(f"{lg.base}/?tool=mtr&target=127.0.0.1&count=1")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await expect(page.locator("#hops-view .scroll-cue")).to_be_hidden()


async def test_embed_mode_shows_only_form_and_output(lg: ServerProcess, watched: Watched) -> None:
    page = watched.page
    await page.goto(f"{lg.base}/?embed=1&tool=ping&target=127.0.0.1")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await expect(page.locator("header")).to_have_count(0)
    await expect(page.locator("footer")).to_have_count(0)
    await run_from_form(page, "traceroute", "127.0.0.1")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    assert "embed=1" in page.url


async def test_keyboard_labels_theme_and_copy(lg: ServerProcess, watched: Watched) -> None:
    page = watched.page
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.goto(lg.base)
    for label in ("mtr", "traceroute", "ping", "Target", "Address family"):
        await expect(page.get_by_label(label, exact=True)).to_be_visible()
    await page.get_by_label("Target").focus()
    await page.keyboard.type("127.0.0.1")
    await page.keyboard.press("Enter")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await page.get_by_role("button", name="Copy link").click()
    # The run's result, to show someone what was seen; the address bar keeps the link that runs it again.
    assert await page.evaluate("navigator.clipboard.readText()") == await page.locator("#result-link").get_attribute(
        "href")
    assert page.url.endswith("?tool=mtr&target=127.0.0.1&family=auto")
    await expect(page.locator("#status")).to_have_text("Link copied to the clipboard.")
    await page.get_by_role("button", name="Copy output").click()
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert "HOST: " in copied and "p 0 " not in copied  # mtr's report, not its protocol records
    # The theme button names the mode it switches to.
    toggle = page.locator("#theme-toggle")
    await expect(toggle).to_have_text("Dark mode")
    await toggle.click()
    await expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    await expect(toggle).to_have_text("Light mode")
    await page.reload()
    await expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    await expect(toggle).to_have_text("Light mode")
    await page.get_by_role("button", name="Use as target").click()
    await expect(page.get_by_label("Target")).to_have_value(watched.client)


@pytest.mark.parametrize(("tool", "target"), [("mtr", "127.0.0.1"), ("traceroute", "localhost"), ("ping", "127.0.0.1")])
async def test_screenshots_of_each_tool(lg: ServerProcess, browser: Browser, tool: str, target: str) -> None:
    watched = await open_page(browser)
    page = watched.page
    await page.goto(f"{lg.base}/?tool={tool}&target={target}&family=4")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    out = save_screenshot_dir()
    for device, size in (("desktop", (1200, 900)), ("phone", (375, 740))):
        await page.set_viewport_size({"width": size[0], "height": size[1]})
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
            path = out / f"{tool}-{device}-{scheme}.png"
            await page.screenshot(path=str(path), full_page=True)
            assert path.stat().st_size > 5000
    assert await watched.problems() == []


async def test_options_appear_where_they_mean_something_and_a_tcp_mtr_runs(
    lg: ServerProcess, watched: Watched
) -> None:
    import socket

    page = watched.page
    await page.goto(lg.base)
    protocol, port, count = page.get_by_label("Protocol"), page.get_by_label("Port"), page.get_by_label("Count")
    await page.get_by_label("ping", exact=True).check()
    await expect(protocol).to_be_hidden()
    await expect(port).to_be_hidden()
    await expect(count).to_be_visible()
    await page.get_by_label("traceroute", exact=True).check()
    await expect(protocol).to_be_visible()
    await expect(port).to_be_visible()  # its own is UDP
    await expect(count).to_be_hidden()
    await protocol.select_option("icmp")
    await expect(port).to_be_hidden()
    await page.get_by_label("mtr", exact=True).check()
    await expect(port).to_be_hidden()  # ICMP again: mtr's own
    await expect(count).to_be_visible()

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listening = listener.getsockname()[1]
        await protocol.select_option("tcp")
        await expect(port).to_be_visible()
        await port.fill(str(listening))
        await count.fill("2")
        # Every option shown, Run and Stop still on the row of the options, side by side.
        run, stop = await page.locator("#run").bounding_box(), await page.locator("#stop").bounding_box()
        boxes = [await page.locator(f"#{name}").bounding_box() for name in ("family", "protocol", "port", "count")]
        assert run and stop and all(boxes)
        assert run["y"] == stop["y"] and abs(run["y"] - boxes[-1]["y"]) < 2, (run, boxes)  # type: ignore[index]
        for hint, words in (("#port-hint", "1–65535"), ("#count-hint", "1–16")):
            await expect(page.locator(hint)).to_have_text(words)
        await page.get_by_label("Target").fill("127.0.0.1")
        await page.get_by_label("Target").press("Enter")
        await expect(page.locator("#status")).to_have_text(FINISHED)
    await expect(page.locator("#command")).to_have_text(re.compile(rf"^mtr --raw --no-dns --tcp -P {listening} -c 2 "))
    # The hop says who it is: its name, its address, its AS and its country, from the test databases.
    hosts = page.locator("#hops tbody tr td.hosts")
    await expect(hosts.locator("button.host")).to_have_text("localhost (127.0.0.1)")
    await expect(hosts.locator(".whois")).to_have_text("AS64500 Example Net · NL")
    assert page.url.endswith(f"?tool=mtr&target=127.0.0.1&family=auto&protocol=tcp&port={listening}&count=2")
    # Plain text, once the run has ended, is its kept text (which ran with those options), not a new run.
    text_link = await page.locator("#text-link").get_attribute("href")
    assert text_link is not None and re.search(r"/api/v1/results/[\w-]{22}\?format=text$", text_link)

    # The permalink keeps the options, and runs with them as the page opens.
    await page.goto(f"{lg.base}/?tool=ping&target=127.0.0.1&count=2&protocol=tcp")
    await expect(page.locator("#status")).to_have_text(FINISHED)
    await expect(page.locator("#command")).to_have_text(re.compile(r"^ping -n -O -c 2 "))  # tcp means nothing here
    await expect(count).to_have_value("2")
    assert await watched.problems() == []


async def test_a_new_tool_record_is_offered_and_shown_as_lines(browser: Browser, tmp_path: Path) -> None:
    # tests/new_tool.py: webtrace with one more tool record, and no other edit.
    with server_process(tmp_path, BROWSER_ENV, unix=False, module="tests.new_tool") as lg:
        watched = await open_page(browser)
        page = watched.page
        await page.goto(f"{lg.base}/")
        await page.get_by_label("hello").check()
        await page.get_by_label("Target").fill("127.0.0.1")
        await page.get_by_role("button", name="Run").click()
        await expect(page.locator("#status")).to_have_text(FINISHED)
        await expect(page.locator("#output")).to_contain_text("webtrace says hello to 127.0.0.1")
        await expect(page.locator("#output")).to_be_visible()
        await expect(page.locator("#hops-view")).to_be_hidden()
        await expect(page.locator("#ping-view")).to_be_hidden()
        await expect(page.locator("#count-field")).to_be_hidden()
        assert await watched.problems() == []
