"""Shared budgets through a real redis-server, and what happens when it goes away."""

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.edge.redis import redis_server
from webtrace.settings import Settings

pytestmark = pytest.mark.edge


async def run_status(client: Any) -> int:
    resp = await client.get("/trace", params={"target": "127.0.0.1"})
    await resp.read()
    return resp.status


async def test_two_instances_share_one_budget(
    tmp_path: Path, make_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    with redis_server(tmp_path) as (_, uri):
        settings = make_settings(ratelimit="10/minute", ratelimit_storage=Settings.from_env(
            {"WEBTRACE_RATELIMIT_STORAGE": uri}).ratelimit_storage)
        one, two = await make_client(settings), await make_client(settings)
        statuses = [await run_status(one if i % 2 else two) for i in range(10)]
        assert statuses == [200] * 10
        assert await run_status(one) == 429
        assert await run_status(two) == 429


async def test_an_unreachable_redis_falls_back_to_a_budget_per_instance(
    tmp_path: Path, make_client: Callable[..., Any], make_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with redis_server(tmp_path) as (process, uri):
        settings = make_settings(ratelimit="3/minute", ratelimit_storage=Settings.from_env(
            {"WEBTRACE_RATELIMIT_STORAGE": uri}).ratelimit_storage)
        client = await make_client(settings)
        assert await run_status(client) == 200  # counted in redis
        process.terminate()
        process.wait(10)
        with caplog.at_level(logging.WARNING):
            assert [await run_status(client) for _ in range(4)] == [200, 200, 200, 429]
        assert "unreachable" in caplog.text and "limiting per instance" in caplog.text
        assert (await client.get("/healthz")).status == 200
