"""Real multi-hop paths: webtrace runs inside the lab's host namespace (see lab.py).

Through it, traceroute and mtr see r1 (silent), r2 and the target in order, in
both families and with every protocol; mtr sees the lossy link; ping to an
address nobody answers fails. Hops carry the names of the lab's hosts file and
the AS and country of small test databases.
"""

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from tests.browser.fixtures import open_page
from tests.browser.relay import relay_to
from tests.helpers import SSE, collect, hop_table
from tests.ipdbs import write_asn_db, write_geo_db
from tests.netlab import lab as netlab
from tests.server import ServerProcess, server_process

pytestmark = pytest.mark.netlab

LAB_ENV = {
    "WEBTRACE_ALLOW_NETWORKS": "192.0.2.0/24,198.51.100.0/24,203.0.113.0/24,2001:db8::/32",
    "WEBTRACE_MTRCOUNT": "20",
    "WEBTRACE_MTRINTERVAL": "0.2",
    "WEBTRACE_PINGCOUNT": "3",
    "WEBTRACE_PINGINTERVAL": "0.5",
}


@pytest.fixture(scope="module")
def lab_server(lab: netlab.Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    prefix = ["ip", "netns", "exec", lab.ns("host")]
    tmp = tmp_path_factory.mktemp("netlab")
    env = {**LAB_ENV, "WEBTRACE_NAMES": "on", "WEBTRACE_ASN_DB": str(write_asn_db(tmp / "asn.mmdb")),
           "WEBTRACE_GEO_DB": str(write_geo_db(tmp / "geo.mmdb"))}
    with server_process(tmp, env, prefix=prefix) as server:
        yield server


@pytest.fixture
async def lg(lab_server: ServerProcess) -> AsyncIterator[Any]:
    connector = aiohttp.UnixConnector(path=str(lab_server.socket))
    async with aiohttp.ClientSession(connector=connector) as session:
        async def run(tool: str, target: str, family: str = "auto", **options: str) -> list[SSE]:
            params = {"target": target, "family": family, **options}
            resp = await session.get(f"{lab_server.base}/api/v1/{tool}", params=params)
            assert resp.status == 200, await resp.text()
            return await collect(resp, timeout=60)

        yield run


def final_rows(events: list[SSE]) -> list[dict[str, Any]]:
    return hop_table((e.event, e.data) for e in events)


def addresses(row: dict[str, Any]) -> list[str]:
    return [h["address"] for h in row["hosts"]]


@pytest.mark.parametrize(("target", "r2", "family"), [
    (netlab.TARGET_V4, netlab.R2_V4, "4"), (netlab.TARGET_V6, netlab.R2_V6, "6")])
async def test_traceroute_sees_every_hop_in_order(lg: Any, target: str, r2: str, family: str) -> None:
    events = await lg("traceroute", target)
    assert events[-1].data["status"] == "ok"
    assert events[0].data["family"] == family
    rows = final_rows(events)
    assert [r["hop"] for r in rows] == [1, 2, 3]
    assert rows[0]["hosts"] == [] and rows[0]["rtts_ms"] == [None, None, None]  # r1 is silent: * * *
    assert rows[1]["hosts"] == [
        {"address": r2, "name": "r2.lab.test", "asn": 64501, "as_name": "Transit Example", "country": "DE"}]
    assert rows[2]["hosts"] == [
        {"address": target, "name": "target.lab.test", "asn": 64502, "as_name": "Target Hosting", "country": "JP"}]


# (tool, options, what the argv carries); each is run in both families, all at once.
PROTOCOL_CASES = [
    ("traceroute", {"protocol": "tcp", "port": str(netlab.OPEN_PORT)}, f"-T -p {netlab.OPEN_PORT}"),
    ("traceroute", {"protocol": "tcp", "port": str(netlab.CLOSED_PORT)}, f"-T -p {netlab.CLOSED_PORT}"),
    ("traceroute", {"protocol": "udp", "port": "5353"}, "-U -p 5353"),
    ("traceroute", {"protocol": "icmp"}, "-I"),
    ("mtr", {"protocol": "tcp", "port": str(netlab.OPEN_PORT), "count": "5"}, f"--tcp -P {netlab.OPEN_PORT}"),
    ("mtr", {"protocol": "tcp", "port": str(netlab.CLOSED_PORT), "count": "5"}, f"--tcp -P {netlab.CLOSED_PORT}"),
    ("mtr", {"protocol": "udp", "port": "5353", "count": "5"}, "--udp -P 5353"),
    ("mtr", {"protocol": "icmp", "count": "5"}, "-c 5"),
]


@pytest.mark.parametrize(("target", "r2"), [(netlab.TARGET_V4, netlab.R2_V4), (netlab.TARGET_V6, netlab.R2_V6)])
async def test_every_protocol_finds_the_path_to_an_open_and_a_closed_port(lg: Any, target: str, r2: str) -> None:
    """TCP to a port that listens and to one that resets, UDP to a chosen port,
    ICMP: each sees the silent r1, then r2, then the target, and ends ok."""
    # ICMP runs go after the others: mtr matches ICMPv6 errors by sequence alone,
    # so an mtr sending echo requests while another mtr sends TCP or UDP probes
    # from the same host can take their errors for its own (seen here in IPv6).
    icmp = [case for case in PROTOCOL_CASES if case[1]["protocol"] == "icmp"]
    others = [case for case in PROTOCOL_CASES if case not in icmp]
    runs = []
    for cases in (others, icmp):
        runs += await asyncio.gather(*(lg(tool, target, **options) for tool, options, _ in cases))
    for (tool, options, flags), events in zip(others + icmp, runs, strict=True):
        case = f"{tool} {options}"
        start, end = events[0].data, events[-1].data
        assert end["status"] == "ok", (case, end)
        assert start["protocol"] == options["protocol"] and flags in start["command"], (case, start)
        assert start["port"] == (int(options["port"]) if "port" in options else None), case
        rows = final_rows(events)
        assert rows[0]["hosts"] == [], (case, rows[0])  # r1 is silent whatever the protocol
        assert addresses(rows[1]) == [r2] and addresses(rows[-1]) == [target], (case, rows)
        if options["protocol"] == "icmp":
            # r2 drops half the echo requests to the target: traceroute may lose
            # all three at hop 3 (and at 4...) and find the target further on.
            assert all(addresses(row) in ([], [target]) for row in rows[2:]), (case, rows)
            continue
        assert [r["hop"] for r in rows] == [1, 2, 3], (case, rows)
        if tool == "mtr":
            assert rows[2]["sent"] == 5 and rows[2]["received"] == 5 and rows[2]["loss_pct"] == 0, (case, rows[2])


@pytest.mark.parametrize(("target", "r2"), [(netlab.TARGET_V4, netlab.R2_V4), (netlab.TARGET_V6, netlab.R2_V6)])
async def test_mtr_table_shows_the_silent_hop_and_the_lossy_link(lg: Any, target: str, r2: str) -> None:
    events = await lg("mtr", target)
    assert events[-1].data["status"] == "ok"
    rows = final_rows(events)
    assert [r["hop"] for r in rows] == [1, 2, 3]
    silent, router, end = rows
    assert silent["hosts"] == [] and silent["loss_pct"] == 100 and silent["received"] == 0  # ??? on the page
    assert addresses(router) == [r2] and router["loss_pct"] == 0
    assert addresses(end) == [target] and end["sent"] == 20
    assert 0 < end["loss_pct"] < 100, "the lossy link must show loss"
    assert end["best_ms"] <= end["avg_ms"] <= end["worst_ms"]


async def test_names_resolve_inside_the_lab(lg: Any) -> None:
    events = await lg("traceroute", "target.lab.test", "6")
    assert events[0].data["target"] == "target.lab.test"
    assert events[0].data["address"] == netlab.TARGET_V6
    assert addresses(final_rows(events)[-1]) == [netlab.TARGET_V6]


async def test_ping_to_an_unreachable_address_fails(lg: Any) -> None:
    events = await lg("ping", netlab.UNREACHABLE_V4)
    end = events[-1].data
    assert end["status"] == "failed" and end["exit_code"] == 1
    assert end["message"] == "ping exited with status 1"
    errors = [e.data for e in events if e.event == "reply" and e.data.get("error")]
    assert errors and errors[0]["error"] == "Destination Host Unreachable"


def test_namespaces_are_removed_even_when_the_body_fails() -> None:
    why = netlab.missing_requirements()
    if why is not None:
        pytest.skip(why)
    with pytest.raises(RuntimeError, match="on purpose"):
        with netlab.network_lab("fail") as lab:
            assert lab.ns("host") in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
            raise RuntimeError("on purpose")
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "wtfail-" not in left
    assert not Path("/etc/netns/wtfail-host").exists()


@pytest.mark.parametrize(("target", "r2"), [(netlab.TARGET_V4, netlab.R2_V4), (netlab.TARGET_V6, netlab.R2_V6)])
async def test_mtr_for_curl_reports_the_silent_hop(lab_server: ServerProcess, target: str, r2: str) -> None:
    connector = aiohttp.UnixConnector(path=str(lab_server.socket))
    async with aiohttp.ClientSession(connector=connector) as session:
        resp = await session.get(f"{lab_server.base}/mtr", params={"target": target})
        text = await resp.text()
    lines = text.splitlines()
    # The target may first answer a probe sent too far (the lossy link lost the
    # nearer ones): then a line says where it really is, as the report does.
    # A line per hop as it first answers, with its AS and country (the test databases);
    # its name too, unless the line came before the name (an earlier run may have left it in the cache).
    assert re.fullmatch(rf"  2\. AS64501 (r2\.lab\.test \()?{re.escape(r2)}\)? \[DE\]", lines[0]), lines
    first = re.fullmatch(rf" *(\d+)\. AS64502 (target\.lab\.test \()?{re.escape(target)}\)? \[JP\]", lines[1])
    assert first is not None, lines
    if first[1] != "3":
        assert "     (the target is hop 3: its replies from nearer were lost at first)" in lines
    table = lines[lines.index("") + 3:]
    # The table has every name: the end waited for them.
    assert [line.split()[1:3] for line in table[1:]] == [["AS64501", "r2.lab.test"], ["AS64502", "target.lab.test"]]
    assert table[0].split()[1] == "???"
    assert "100.0%    20" in table[0]
    assert "ERROR" not in text


@pytest.mark.parametrize(("target", "r1", "r2"), [(netlab.TARGET_V4, netlab.R1_V4, netlab.R2_V4),
                                                  (netlab.TARGET_V6, netlab.R1_V6, netlab.R2_V6)])
async def test_tracepath_finds_where_the_path_mtu_drops(lg: Any, lab: netlab.Lab, lab_server: ServerProcess,
                                                        target: str, r1: str, r2: str) -> None:
    lab.forget_path_mtus()
    events = await lg("tracepath", target)
    assert events[-1].data["status"] == "ok"
    rows = final_rows(events)
    assert [row["hop"] for row in rows] == [1, 2, 3]
    assert rows[0]["hosts"] == [] and rows[0]["loss_pct"] == 100  # r1 is silent, but for "too big"
    # r1 says the next link takes at most LINK_B_MTU bytes; asked again with that, r2 answers.
    assert addresses(rows[1]) == [r1, r2] and rows[1]["pmtu"] == netlab.LINK_B_MTU
    assert [(h["name"], h["asn"], h["country"]) for h in rows[1]["hosts"]] == [
        ("r1.lab.test", 64500, "NL"), ("r2.lab.test", 64501, "DE")]
    assert addresses(rows[2]) == [target] and "pmtu" not in rows[2]
    assert [e.data for e in events if e.event == "summary"] == [
        {"pmtu": netlab.LINK_B_MTU, "local_pmtu": 1500, "hops": 3, "back": 3}]  # a veth's 1500 to begin with
    connector = aiohttp.UnixConnector(path=str(lab_server.socket))
    async with aiohttp.ClientSession(connector=connector) as session:
        async def text_route() -> str:
            return await (await session.get(f"{lab_server.base}/tracepath", params={"target": target})).text()

        # Run again at once, tracepath begins at the path MTU the kernel learnt: no hop reports the drop.
        known = await text_route()
        assert re.search(rf"^ 1\?: \[LOCALHOST\] .*pmtu {netlab.LINK_B_MTU}$", known, re.MULTILINE), known
        assert not re.search(r"^ \d+:  [\d.:a-f]+ +[\d.]+ms pmtu", known, re.MULTILINE), known  # no hop's
        assert f"Resume: pmtu {netlab.LINK_B_MTU} hops 3 back 3" in known
        # Forgotten, the text route prints tracepath's own lines with the drop at hop 2.
        lab.forget_path_mtus()
        text = await text_route()
    assert re.search(rf"^ 2:  {re.escape(r1)} +[\d.]+ms pmtu {netlab.LINK_B_MTU}$", text, re.MULTILINE), text
    assert f"Resume: pmtu {netlab.LINK_B_MTU} hops 3 back 3" in text and "ERROR" not in text


@pytest.mark.browser
@pytest.mark.parametrize("target", [netlab.TARGET_V4, netlab.TARGET_V6])
async def test_the_page_marks_the_hop_where_the_path_mtu_drops(lab: netlab.Lab, lab_server: ServerProcess,
                                                               browser: Browser, target: str) -> None:
    assert lab_server.socket is not None  # the lab's server listens in the host's namespace, on a unix socket
    lab.forget_path_mtus()
    watched = await open_page(browser, width=1366, color_scheme="dark")
    page = watched.page
    async with relay_to(lab_server.socket) as relay:
        await page.goto(f"http://127.0.0.1:{relay.port}/?tool=tracepath&target={target}")
        await expect(page.locator("#status")).to_have_text(re.compile(r"^Finished in"))
        await expect(page.locator("#hops thead th", has_text="MTU")).to_be_visible()
        await expect(page.locator("#hops thead th", has_text="StDev")).to_be_hidden()  # not tracepath's
        rows = page.locator("#hops tbody tr")
        await expect(rows).to_have_count(3)
        await expect(rows.nth(0).locator("td.hosts")).to_have_text("no reply")
        await expect(rows.nth(1)).to_have_class(re.compile(r"\bmtu-drop\b"))
        await expect(rows.nth(1).locator("td.mtu-cell")).to_have_text(f"\u2193 {netlab.LINK_B_MTU}")
        await expect(page.locator("tr.mtu-drop")).to_have_count(1)
        await expect(page.locator(".hops-summary").first).to_have_text(
            f"Path MTU {netlab.LINK_B_MTU} bytes · 3 hops there, 3 back")
        await expect(page.get_by_role("link", name="Plain text")).to_have_attribute(
            "href", re.compile(r"/api/v1/results/[\w-]{22}\?format=text$"))
        # At once again: the server knows the path MTU now, and says so where no hop can.
        await page.get_by_role("button", name="Run", exact=True).click()
        await expect(page.locator("#status")).to_have_text(re.compile(r"^Finished in"))
        await expect(page.locator(".hops-summary").first).to_have_text(
            f"Path MTU {netlab.LINK_B_MTU} bytes · 3 hops there, 3 back · this server already sends at most "
            f"{netlab.LINK_B_MTU} bytes towards the target")
        await expect(page.locator("tr.mtu-drop")).to_have_count(0)
    assert await watched.problems() == []


@pytest.mark.browser
async def test_the_page_marks_each_lossy_hop_along_its_whole_row(lab_server: ServerProcess, browser: Browser) -> None:
    assert lab_server.socket is not None
    watched = await open_page(browser, width=1366)
    page = watched.page
    async with relay_to(lab_server.socket) as relay:
        await page.goto(f"http://127.0.0.1:{relay.port}/?tool=mtr&target={netlab.TARGET_V4}")
        await expect(page.locator("#status")).to_have_text(re.compile(r"^Finished in"))
        rows = page.locator("#hops tbody tr")
        await expect(rows).to_have_count(3)
        # r1 never answers (all lost), r2 loses nothing, the target loses about half: marked by
        # the row and a sign by its loss, not by the colour of one cell.
        await expect(rows.nth(0)).to_have_class(re.compile(r"\ball-lost\b"))
        await expect(rows.nth(1)).not_to_have_class(re.compile(r"\blossy\b|\ball-lost\b"))
        await expect(rows.nth(2)).to_have_class(re.compile(r"\blossy\b"))
        await expect(rows.nth(2).locator("td").nth(2)).to_have_text(re.compile(r"^\u25B2 \d+\.\d%$"))
        await expect(rows.nth(1).locator(".loss-sign")).to_have_count(0)
        tinted = await rows.nth(2).locator("td").evaluate_all(
            "cells => cells.filter((c) => !c.hidden).map((c) => getComputedStyle(c).backgroundColor)")
        assert len(set(tinted)) == 1 and tinted[0] != "rgba(0, 0, 0, 0)"  # every cell of the row
        assert await watched.inaccessible() == []
        await page.emulate_media(color_scheme="dark")  # readable in dark mode too
        assert await watched.inaccessible() == []
        # ping's chart marks each lost probe on its time axis, with its reason on focus.
        await page.goto(f"http://127.0.0.1:{relay.port}/?tool=ping&target={netlab.UNREACHABLE_V4}")
        await expect(page.get_by_role("alert")).to_have_text("Ping exited with status 1.")
        lost = page.locator("#chart .lost")
        await expect(lost).to_have_count(3)
        await lost.first.focus()
        await expect(page.locator("#chart .tip")).to_have_text("#1 at 0 s: Destination Host Unreachable")
        assert await watched.problems() == []
