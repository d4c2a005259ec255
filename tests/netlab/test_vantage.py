"""Vantage points on real paths: three nodes in namespaces of their own, each with its
own path to the target (see vantage.py), a front running from them, nginx in front
of the front in one test; the page marking where their paths join, and a route
moved between two runs named by the comparison."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from tests.browser.fixtures import open_page
from tests.browser.relay import relay_to
from tests.edge.nginx import nginx_in_front
from tests.helpers import SSE, collect, eventually, hop_table, sse_events
from tests.netlab import vantage
from tests.server import ServerProcess, server_process

pytestmark = pytest.mark.netlab

_visitors = itertools.count(1)


def visitor() -> str:
    """A visitor of its own for each run: each has its own budget on every node."""
    return f"198.18.0.{next(_visitors)}"  # never probed: only a name for a budget


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[vantage.VantageLab]:
    why = vantage.missing_requirements()
    if why is not None:
        pytest.skip(why)
    with vantage.vantage_lab(tmp_path_factory.mktemp("vantage")) as built:
        built.start_node("n1")
        built.start_node("n2", {"WEBTRACE_RATELIMIT": "2/minute"})  # a budget a visitor can spend
        built.start_node("n3")
        yield built


@pytest.fixture(scope="module")
def front(lab: vantage.VantageLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"WEBTRACE_NODE_NAME": "front", "WEBTRACE_NODES": ",".join(f"{n}={lab.node_url(n)}" for n in vantage.NODES),
           "WEBTRACE_ALLOW_NETWORKS": "", "WEBTRACE_RATELIMIT": "1000/minute", "WEBTRACE_NODES_CHECK_INTERVAL": "1",
           "WEBTRACE_MTRINTERVAL": "0.2", "WEBTRACE_PINGINTERVAL": "0.2"}
    with server_process(tmp_path_factory.mktemp("front"), env, prefix=lab.exec_argv("front", [])) as server:
        yield server


@pytest.fixture
async def run(front: ServerProcess) -> AsyncIterator[Any]:
    assert front.socket is not None
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(front.socket))) as session:
        async def go(tool: str, nodes: str, who: str | None = None, **params: str) -> list[SSE]:
            resp = await session.get(f"{front.base}/api/v1/{tool}",
                                     params={"target": vantage.TARGET, "nodes": nodes, **params},
                                     headers={"X-Forwarded-For": who or visitor()})
            assert resp.status == 200, await resp.text()
            return await collect(resp, timeout=60)

        yield go


def parts(events: list[SSE]) -> dict[str, list[SSE]]:
    found: dict[str, list[SSE]] = {}
    for event in events:
        if event.event != "done":
            found.setdefault(event.data["node"], []).append(event)
    return found


def rows(part: list[SSE]) -> list[dict[str, Any]]:
    return hop_table((e.event, e.data) for e in part)


async def test_all_nodes_each_by_its_own_path(run: Any) -> None:
    events = await run("traceroute", "all")
    found = parts(events)
    for name in vantage.NODES:
        assert found[name][-1].data["status"] == "ok", (name, found[name][-1].data)
        table = rows(found[name])
        assert len(table) == vantage.HOPS[name], (name, table)
        assert [h["address"] for h in table[-1]["hosts"]] == [vantage.TARGET]
    # The front is a node too, and its own policy denies the target: its part alone is refused.
    assert found["front"][-1].data["status"] == "refused" and found["front"][-1].data["code"] == "target_denied"
    assert events[-1].event == "done" and events[-1].data["status"] == "partial"


async def test_a_subset_sees_the_lossy_path(run: Any) -> None:
    events = await run("mtr", "n3", count="16")
    table = rows(parts(events)["n3"])
    assert [r["hop"] for r in table] == [1, 2, 3] and table[-1]["sent"] == 16
    assert 0 < table[-1]["loss_pct"] < 100, "r3a drops some echo requests to the target"
    assert events[-1].data == {"status": "ok", "nodes": {"n3": "ok"}}


async def test_a_node_stopped_before_and_one_killed_during_a_run(run: Any, lab: vantage.VantageLab,
                                                                 front: ServerProcess) -> None:
    lab.stop_node("n1")
    try:
        events = await run("ping", "n1,n2")
        found = parts(events)
        assert found["n1"][-1].data["status"] == "unavailable" and "cannot connect" in found["n1"][-1].data["message"]
        assert found["n2"][-1].data["status"] == "ok"
    finally:
        lab.start_node("n1")
    assert front.socket is not None
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(front.socket))) as session:
        resp = await session.get(f"{front.base}/api/v1/ping", params={"target": vantage.TARGET, "nodes": "n1,n3",
                                                                      "count": "16"},
                                 headers={"X-Forwarded-For": visitor()})
        async for event in sse_events(resp):
            if event.event == "reply" and event.data["node"] == "n1":
                break
        lab.nodes["n1"].kill()
        rest = await collect(resp, timeout=30)
    lab.nodes["n1"].wait()
    lab.start_node("n1")
    ends = {e.data["node"]: e.data for e in rest if e.event == "end"}
    assert ends["n1"]["status"] == "unavailable" and "broke off" in ends["n1"]["message"]
    assert ends["n3"]["status"] == "ok"


async def test_a_node_whose_own_policy_denies_the_target(run: Any, lab: vantage.VantageLab) -> None:
    lab.stop_node("n3")
    lab.start_node("n3", {"WEBTRACE_DENY_NETWORKS": f"{vantage.TARGET}/32"})
    try:
        found = parts(await run("ping", "n2,n3"))
    finally:
        lab.stop_node("n3")
        lab.start_node("n3")
    assert found["n2"][-1].data["status"] == "ok"
    [begun, refused] = found["n3"]
    assert begun.event == "start" and begun.data["address"] is None
    assert refused.data["status"] == "refused" and refused.data["code"] == "target_denied"
    assert refused.data["http_status"] == 403


async def test_each_visitor_has_their_own_budget_on_each_node(run: Any) -> None:
    first, second = visitor(), visitor()
    for _ in range(2):
        assert parts(await run("ping", "n2", who=first, count="1"))["n2"][-1].data["status"] == "ok"
    spent = parts(await run("ping", "n2", who=first, count="1"))["n2"][-1].data
    assert spent["status"] == "refused" and spent["code"] == "rate_limited" and spent["http_status"] == 429
    # Another visitor behind the same front has a budget of their own there.
    assert parts(await run("ping", "n2", who=second, count="1"))["n2"][-1].data["status"] == "ok"


async def test_a_visitor_leaving_ends_the_tool_on_every_node(front: ServerProcess, lab: vantage.VantageLab) -> None:
    assert front.socket is not None
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(front.socket))) as session:
        resp = await session.get(f"{front.base}/api/v1/mtr", params={"target": vantage.TARGET, "nodes": "n1,n2,n3",
                                                                     "count": "16"},
                                 headers={"X-Forwarded-For": visitor()})
        seen: set[str] = set()
        async for event in sse_events(resp):
            if event.event == "hop":
                seen.add(event.data["node"])
            if seen == set(vantage.NODES):
                break
        assert all(lab.tools_in(name) for name in vantage.NODES)
        resp.close()
        assert await eventually(lambda: not any(lab.tools_in(name) for name in vantage.NODES), 1.0)


async def test_through_nginx_the_nodes_see_the_visitor(front: ServerProcess, lab: vantage.VantageLab,
                                                       tmp_path: Path) -> None:
    assert front.socket is not None
    with nginx_in_front(tmp_path, front.socket) as nginx:
        async with aiohttp.ClientSession() as session:
            resp = await session.get(f"{nginx.root}/trace", params={"target": vantage.TARGET, "nodes": "n1,n2"})
            text = await resp.text()
    assert resp.status == 200
    lines = text.splitlines()
    assert any(line.startswith(f"[n1]  1  {vantage.TARGET}") for line in lines), lines
    assert any(line.startswith(f"[n2]  2  {vantage.TARGET}") for line in lines), lines
    # nginx passed the visitor (here: 127.0.0.1) on, the front passed it to each node.
    line = "client=127.0.0.1 method=GET path='/api/v1/traceroute'"
    assert await eventually(lambda: line in (lab.work / "n1.log").read_text(), 5)


async def test_a_route_moved_between_two_runs_is_named_by_the_comparison(run: Any, front: ServerProcess,
                                                                         lab: vantage.VantageLab) -> None:
    who = visitor()
    before = await run("traceroute", "n3", who=who)
    with lab.r3a_via_r2():
        after = await run("traceroute", "n3", who=who)
    [a, b] = [next(e.data["result"] for e in events if e.event == "start") for events in (before, after)]
    assert [h["hosts"][0]["asn"] for h in rows(parts(before)["n3"])] == [64530, 64531, 64502]
    assert front.socket is not None
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(front.socket))) as session:
        async with session.get(f"{front.base}/api/v1/compare/{a}/{b}", headers={"X-Forwarded-For": who}) as resp:
            assert resp.status == 200, await resp.text()
            comparison = await resp.json()
    assert comparison["verdict"] == "From n3: the path changed at hop 2: AS64531 -> AS64520."
    [place] = comparison["places"]
    assert [h["state"] for h in place["hops"]] == ["same", "changed", "same"]
    assert [h["address"] for h in place["hops"][1]["a"]] == ["198.51.100.66"]
    assert [h["address"] for h in place["hops"][1]["b"]] == ["198.51.100.98"]


@pytest.mark.browser
async def test_the_page_marks_where_the_paths_join(front: ServerProcess, browser: Browser) -> None:
    assert front.socket is not None
    watched = await open_page(browser, width=1366, color_scheme="dark")
    page = watched.page
    async with relay_to(front.socket) as relay:
        await page.goto(f"http://127.0.0.1:{relay.port}/?tool=traceroute&target={vantage.TARGET}&nodes=n1,n2,n3")
        await expect(page.locator("#status")).to_have_text("Done: every node finished.")
        target = vantage.TARGET
        await expect(page.locator("#paths-join")).to_have_text(
            f"The paths join at {target}: hop 1 from n1, hop 2 from n2, hop 3 from n3.")
        table = page.locator("#paths-table")
        await expect(table.locator("thead th")).to_have_text(["Hop", "n1", "n2", "n3"])
        # Each node's own hop where the paths join: the target, at 1, 2 and 3 hops.
        joins = table.locator("td.join")
        await expect(joins).to_have_count(3)
        assert await joins.evaluate_all("cells => cells.map((c) => [c.dataset.node, c.parentElement.rowIndex])") == [
            ["n1", 1], ["n2", 2], ["n3", 3]]
        await expect(joins.locator(".tag")).to_have_text(["paths join"] * 3)
        await expect(table.locator("tr.shared")).to_have_count(0)  # no hop where all three answered alike
        summary = page.locator("#paths-summary tbody tr")
        for i, (hops, path) in enumerate([("1", ["AS64502"]), ("2", ["AS64520", "AS64502"]),
                                          ("3", ["AS64530", "AS64531", "AS64502"])]):
            await expect(summary.nth(i).locator("td").first).to_have_text(hops)
            await expect(summary.nth(i).locator(".chip")).to_have_text(path)
        await expect(summary.locator(".tag")).to_have_text(["best"])
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert await watched.problems() == []


async def test_a_continuous_mtr_shows_a_route_change_mid_run_at_its_hop(front: ServerProcess,
                                                                        lab: vantage.VantageLab) -> None:
    """Continuous mtr from n3 across its lossy last link while r3a's route moves to r2 and
    back: its cycles tell the change at hop 2, the target's losses at hop 3, and leaving
    ends the tool on n3."""
    assert front.socket is not None
    cycles: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(front.socket))) as session:
        resp = await session.get(f"{front.base}/api/v1/mtr", params={"target": vantage.TARGET, "nodes": "n3",
                                                                     "continuous": "true"},
                                 headers={"X-Forwarded-For": visitor()})
        assert resp.status == 200
        events = sse_events(resp)
        moved_at: int | None = None

        async def cycles_until(count: int) -> None:
            async for event in events:
                if event.event == "cycle":
                    cycles.append(event.data)
                    if len(cycles) >= count:
                        return
                assert event.event not in ("end", "done"), event.data

        await cycles_until(10)
        with lab.r3a_via_r2():
            moved_at = len(cycles)
            await cycles_until(moved_at + 12)
        assert lab.tools_in("n3")
        resp.close()
        assert await eventually(lambda: not lab.tools_in("n3"), 2.0)
    # null: no answer in that cycle (a router limits the ICMP errors it sends).
    second = [c["hosts"][1] for c in cycles]
    assert set(second[:moved_at]) - {None} == {"198.51.100.66"}
    # A cycle or two may straddle the change; after it, hop 2 answers from r2's side.
    assert set(second[moved_at + 2:]) - {None} == {"198.51.100.98"}
    assert len({c["hosts"][0] for c in cycles} - {None}) == 1  # hop 1 never moved
    target = [c["rtts_ms"][2] for c in cycles if len(c["rtts_ms"]) > 2]
    assert None in target and any(rtt is not None for rtt in target), "r3a drops some probes to the target"


async def test_a_continuous_ping_across_the_lossy_link_goes_on_until_its_visitor_leaves(
        front: ServerProcess, lab: vantage.VantageLab) -> None:
    assert front.socket is not None
    replies: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(front.socket))) as session:
        resp = await session.get(f"{front.base}/api/v1/ping", params={"target": vantage.TARGET, "nodes": "n3",
                                                                      "continuous": "true"},
                                 headers={"X-Forwarded-For": visitor()})
        async for event in sse_events(resp):
            assert event.event not in ("end", "done"), event.data
            if event.event == "reply":
                replies.append(event.data)
            if len(replies) >= 20 and any(r["lost"] for r in replies):
                break
        resp.close()
        assert await eventually(lambda: not lab.tools_in("n3"), 2.0)
    assert [r["seq"] for r in replies] == list(range(1, len(replies) + 1))  # none missing, past any count
    assert any(not r["lost"] for r in replies)


@pytest.fixture(autouse=True)
def no_leftover_tools(lab: vantage.VantageLab) -> Iterator[None]:
    yield
    assert not any(lab.tools_in(name) for name in vantage.NODES)
