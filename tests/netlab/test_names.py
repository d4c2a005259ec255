"""A hop whose name answers slowly holds nothing back (design §7).

webtrace runs in the lab's host namespace with a resolver of the test's own: a
real DNS server (tests/fakes/slow_dns.py) on the namespace's loopback that names
r2 only after a delay, and the target at once. Its own hosts file there knows
neither, so every name comes from that server.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.helpers import FAKES, SSE, sse_events
from tests.netlab import lab as netlab
from tests.netlab.test_paths import LAB_ENV
from tests.server import ServerProcess, server_process

pytestmark = pytest.mark.netlab

SLOW_S = 2.5
R2_NAME, TARGET_NAME = "slow-r2.dns.test", "fast-target.dns.test"


@pytest.fixture(scope="module")
def slow_dns(lab: netlab.Lab) -> Iterator[subprocess.Popen[str]]:
    argv = lab.exec_argv("host", [sys.executable, str(FAKES / "slow_dns.py"), "127.0.0.1",
                                  f"{netlab.R2_V4}={R2_NAME}@{SLOW_S}", f"{netlab.R2_V6}={R2_NAME}@{SLOW_S}",
                                  f"{netlab.TARGET_V4}={TARGET_NAME}@0", f"{netlab.TARGET_V6}={TARGET_NAME}@0"])
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    try:
        assert server.stdout.readline().strip() == "ready"
        yield server
    finally:
        server.kill()
        server.wait()
        server.stdout.close()


@pytest.fixture(scope="module")
def named_server(lab: netlab.Lab, slow_dns: subprocess.Popen[str],
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("names")
    (tmp / "hosts").write_text("127.0.0.1 localhost\n")
    (tmp / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:5 attempts:1\n")
    # Its own view of /etc, in a mount namespace of its own inside the lab's host.
    mounts = f"mount --bind {tmp}/hosts /etc/hosts && mount --bind {tmp}/resolv.conf /etc/resolv.conf && exec \"$@\""
    prefix = [*lab.exec_argv("host", ["unshare", "--mount", "sh", "-c", mounts, "sh"])]
    env = {**LAB_ENV, "WEBTRACE_NAMES": "on", "WEBTRACE_NAME_TIMEOUT": "5"}
    with server_process(tmp, env, prefix=prefix) as server:
        yield server


@pytest.fixture
async def timed(named_server: ServerProcess) -> AsyncIterator[Any]:
    connector = aiohttp.UnixConnector(path=str(named_server.socket))
    async with aiohttp.ClientSession(connector=connector) as session:
        async def run(tool: str, **params: str) -> list[tuple[float, SSE]]:
            resp = await session.get(f"{named_server.base}/api/v1/{tool}", params=params)
            assert resp.status == 200, await resp.text()
            started = time.monotonic()
            return [(time.monotonic() - started, event) async for event in sse_events(resp)]

        yield run


def _named(events: list[tuple[float, SSE]], hop: int) -> float:
    return next(t for t, e in events if e.event == "hop" and e.data["hop"] == hop and e.data["hosts"][0]["name"])


async def test_a_slow_name_delays_no_later_row_and_no_line(timed: Any) -> None:
    events = await timed("traceroute", target=netlab.TARGET_V4)
    assert events[-1][1].data["status"] == "ok"
    first_r2 = next(t for t, e in events if e.event == "hop" and e.data["hop"] == 2)
    r2_named = _named(events, 2)
    target_row = next(t for t, e in events if e.event == "hop" and e.data["hop"] == 3)
    last_line = max(t for t, e in events if e.event == "line")
    # The rows and lines after r2's went out while its name was still on its way.
    assert r2_named - first_r2 >= SLOW_S - 0.5
    assert target_row < r2_named - 1 and last_line < r2_named - 1
    assert _named(events, 3) < r2_named  # the fast name did not wait for the slow one either
    # The name came before the end: the last table is complete.
    hops = {e.data["hop"]: e.data for _, e in events if e.event == "hop"}
    assert hops[2]["hosts"][0]["name"] == R2_NAME and hops[3]["hosts"][0]["name"] == TARGET_NAME
    assert events[-1][1].event == "end" and events[-1][0] >= r2_named


async def test_mtr_keeps_streaming_while_a_name_is_slow(timed: Any) -> None:
    events = await timed("mtr", target=netlab.TARGET_V6)  # r2's IPv6 name: not cached by the test before
    assert events[-1][1].data["status"] == "ok"
    first_r2 = next(t for t, e in events if e.event == "hop" and e.data["hop"] == 2 and e.data["hosts"])
    r2_named = _named(events, 2)
    assert r2_named - first_r2 >= SLOW_S - 0.5
    meanwhile = [e for t, e in events if first_r2 < t < r2_named and e.event in ("hop", "line")]
    assert len(meanwhile) >= 20, "mtr's rows and lines must keep coming while the name is slow"
    final = {e.data["hop"]: e.data for _, e in events if e.event == "hop"}
    assert final[2]["hosts"][0]["name"] == R2_NAME
