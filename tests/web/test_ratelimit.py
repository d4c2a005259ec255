import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import collect, runs_started, sse_events, tool_processes
from webtrace.web.ratelimit import ClientLimiter, client_key


def test_client_key() -> None:
    assert client_key("198.51.100.7", 64) == "198.51.100.7"
    assert client_key("2001:db8:1:2:aaaa::1", 64) == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:2:aaaa::1", 48) == "2001:db8:1::/48"
    assert client_key("::ffff:198.51.100.7", 64) == "198.51.100.7"
    assert client_key("unix", 64) == "unix"


async def test_the_eleventh_run_in_a_minute_is_refused(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    client = await make_client(make_settings(ratelimit="10/minute"))
    for i in range(10):
        # Invalid requests count too: half of these are refused before running.
        target = "127.0.0.1" if i % 2 else "-bad"
        resp = await client.get("/api/v1/ping", params={"target": target})
        if resp.status == 200:
            assert resp.headers["RateLimit-Limit"] == "10"
            assert resp.headers["RateLimit-Remaining"] == str(9 - i)
            await collect(resp)
    resp = await client.get("/api/v1/mtr", params={"target": "127.0.0.1"})
    assert resp.status == 429
    assert 0 < int(resp.headers["Retry-After"]) <= 60
    assert resp.headers["RateLimit-Remaining"] == "0"
    body = await resp.json()
    assert body["error"]["code"] == "rate_limited"
    assert "10 per 1 minute" in body["error"]["message"] and "Try again in" in body["error"]["message"]
    text = await client.get("/trace", params={"target": "127.0.0.1"})
    assert text.status == 429 and (await text.text()).startswith("ERROR: Too many runs")
    assert runs_started(client.server.app) == 5


async def test_a_refused_client_is_remembered_until_its_window_frees_a_run() -> None:
    limiter = ClientLimiter("1/second", "async+memory://", ipv6_prefix=64, per_client=1)
    assert (await limiter.hit("a")).allowed
    assert limiter.remembered("a") is None
    refused = await limiter.hit("a")
    assert not refused.allowed and refused.reset_s == 1
    assert limiter.remembered("a") == refused and limiter.remembered("b") is None
    assert await limiter.hit("a") == refused
    await asyncio.sleep(1.01)  # the window passing is what is under test
    assert limiter.remembered("a") is None
    assert (await limiter.hit("a")).allowed


async def test_repeated_refusals_say_the_same_as_the_first(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    client = await make_client(make_settings(ratelimit="1/hour"))
    assert (await client.get("/api/v1/ping", params={"target": "-bad"})).status == 400
    answers = []
    for path in ("/api/v1/ping", "/api/v1/mtr", "/ping", "/api/v1/ping/check"):
        resp = await client.get(path, params={"target": "127.0.0.1"})
        answers.append((resp.status, resp.headers["RateLimit-Remaining"], await resp.text()))
    first = answers[0]
    assert first[0] == 429 and "1 per 1 hour" in first[2]
    assert answers[1] == first
    assert answers[2][:2] == first[:2] and answers[2][2].startswith("ERROR: Too many runs: the limit is 1 per 1 hour")
    assert answers[3] == first
    assert runs_started(client.server.app) == 0


async def test_several_limits_and_other_clients(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    client = await make_client(make_settings(ratelimit="100/minute;2/hour"))
    for _ in range(2):
        await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"}))
    assert (await client.get("/api/v1/ping", params={"target": "127.0.0.1"})).status == 429
    other = await client.get("/api/v1/ping", params={"target": "127.0.0.1"},
                             headers={"X-Forwarded-For": "198.51.100.4"})
    assert other.status == 200
    await collect(other)


async def test_ipv6_clients_share_their_64(make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(make_settings(ratelimit="1/minute"))

    async def run(ip: str) -> int:
        resp = await client.get("/ping", params={"target": "127.0.0.1"}, headers={"X-Forwarded-For": ip})
        await resp.read()
        return resp.status

    assert await run("2001:db8:1:2::1") == 200
    assert await run("2001:db8:1:2:ffff::9") == 429  # same /64
    assert await run("2001:db8:1:3::1") == 200  # another /64


async def test_reconnects_cost_nothing(make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(make_settings(ratelimit="1/minute"))
    for _ in range(3):
        resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1"}, headers={"Last-Event-ID": "9"})
        assert resp.status == 204
    resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1"})
    assert resp.status == 200
    await collect(resp)


async def test_runs_at_once_per_client(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    client = await make_client(make_settings(max_jobs_per_client=1, mtr_count=50))
    first = await client.get("/api/v1/mtr", params={"target": "127.0.0.1"})
    assert (await anext(sse_events(first))).event == "start"
    second = await client.get("/api/v1/ping", params={"target": "127.0.0.1"})
    assert second.status == 429 and second.headers["Retry-After"]
    assert (await second.json())["error"]["code"] == "client_busy"
    assert {p.name() for p in tool_processes(os.getpid())} <= {"mtr", "mtr-packet"}
    other = await client.get("/api/v1/ping", params={"target": "127.0.0.1"},
                             headers={"X-Forwarded-For": "198.51.100.4"})
    assert other.status == 200
    await collect(other)
    first.close()


@pytest.mark.parametrize("path", ["/", "/healthz", "/metrics", "/static/style.css"])
async def test_other_routes_are_not_limited(
    make_client: Callable[..., Any], make_settings: Callable[..., Any], path: str
) -> None:
    client = await make_client(make_settings(ratelimit="1/minute"))
    for _ in range(3):
        assert (await client.get(path)).status == 200


RUN_ROUTES = ["/api/v1/ping", "/api/v1/traceroute", "/api/v1/mtr", "/ping", "/trace", "/mtr"]


@pytest.mark.parametrize("path", RUN_ROUTES)
async def test_last_event_id_runs_nothing_and_costs_nothing_on_every_run_route(
    make_client: Callable[..., Any], make_settings: Callable[..., Any],
    fake_tool: Callable[..., Path], tmp_path: Path, path: str,
) -> None:
    record = tmp_path / "started"
    for tool in ("ping", "traceroute", "mtr", "tracepath"):
        fake_tool(tool, "recorder.py", {"WEBTRACE_TEST_RECORD": str(record)})
    client = await make_client(make_settings(ratelimit="1/minute", max_jobs_per_client=1))
    for _ in range(5):
        resp = await client.get(path, params={"target": "127.0.0.1"}, headers={"Last-Event-ID": "9"})
        assert resp.status == 204
        assert await resp.read() == b""
    assert not record.exists()  # no tool was started
    # The one run of the budget is still there, and then it is spent.
    first = await client.get(path, params={"target": "127.0.0.1"})
    assert first.status == 200
    await first.read()
    assert record.read_text().count("\n") == 1
    assert (await client.get(path, params={"target": "127.0.0.1"})).status == 429


HUGE = "9" * 5000  # past Python's int digit limit (4300)


@pytest.mark.parametrize(("path", "param"), [
    ("/api/v1/ping", "count"), ("/api/v1/mtr", "port"), ("/api/v1/ping/check", "count"),
    ("/api/v1/traceroute/check", "port"), ("/ping", "count"), ("/trace", "port"),
])
async def test_item_6_huge_numbers_are_a_400_on_every_route(
    make_client: Callable[..., Any], make_settings: Callable[..., Any], caplog: pytest.LogCaptureFixture,
    path: str, param: str,
) -> None:
    client = await make_client(make_settings(ratelimit="100/minute"))
    extra = {"protocol": "tcp"} if param == "port" else {}
    with caplog.at_level("DEBUG"):
        resp = await client.get(path, params={"target": "127.0.0.1", param: HUGE, **extra})
    assert resp.status == 400
    body = await resp.text()
    said = (await resp.json())["error"]["message"] if path.startswith("/api/") else body
    assert f"{param} must be a number from 1 to" in said and len(said) < 200, said
    assert not [r for r in caplog.records if r.levelno >= 40 or r.exc_info], caplog.text
    assert runs_started(client.app) == 0


async def test_item_6_a_reconnect_with_a_huge_number_spends_as_any_refused_request(
    make_client: Callable[..., Any], make_settings: Callable[..., Any], caplog: pytest.LogCaptureFixture,
) -> None:
    client = await make_client(make_settings(ratelimit="3/minute"))
    statuses = []
    with caplog.at_level("DEBUG"):
        for _ in range(10):
            resp = await client.get("/api/v1/ping", params={"target": "127.0.0.1", "count": HUGE},
                                    headers={"Last-Event-ID": "7"})
            statuses.append(resp.status)
    assert statuses == [400] * 3 + [429] * 7
    assert not [r for r in caplog.records if r.levelno >= 40 or r.exc_info], caplog.text
    for value in (HUGE, "1" * 10):  # a stored result's stream, too
        resp = await client.get("/api/v1/results/" + "a" * 22 + "/events", headers={"Last-Event-ID": value})
        assert resp.status == 400 and "Last-Event-ID must be an event's id" in (await resp.json())["error"]["message"]
