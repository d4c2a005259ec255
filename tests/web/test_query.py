"""A run route's query: read once per request, and kept for the next request that asks the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from webtrace.web.query import QUERIES, QUERIES_KEPT


async def test_the_same_query_is_read_once_and_answered_the_same(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    app = client.server.app
    for _ in range(2):
        resp = await client.get("/api/v1/ping/check", params={"target": "127.0.0.1", "count": "2"})
        assert resp.status == 204
    assert len(app[QUERIES]) == 1
    kept = next(iter(app[QUERIES].values()))
    assert kept.target == "127.0.0.1" and kept.options.count == 2 and kept.spec.name == "ping"
    # The same words on another route (the text route) are read for that route.
    resp = await client.get("/ping", params={"target": "127.0.0.1", "count": "2"})
    assert resp.status == 200
    await resp.read()
    assert sorted(name for name, _ in app[QUERIES]) == ["api_check", "text_run"]


async def test_a_refused_query_is_refused_each_time_and_not_kept(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    for _ in range(2):
        resp = await client.get("/api/v1/ping/check", params={"target": "127.0.0.1", "count": "100000"})
        assert resp.status == 400 and "count" in (await resp.json())["error"]["message"]
        resp = await client.get("/api/v1/ping/check?target=127.0.0.1&target=127.0.0.2")
        assert resp.status == 400 and "more than once" in (await resp.json())["error"]["message"]
    assert client.server.app[QUERIES] == {}


async def test_the_queries_kept_are_bounded(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    for n in range(QUERIES_KEPT + 1):
        resp = await client.get("/api/v1/ping/check", params={"target": f"127.0.{n // 250}.{n % 250 + 1}"})
        assert resp.status == 204
    kept = client.server.app[QUERIES]
    assert len(kept) == QUERIES_KEPT
    targets = {query.target for query in kept.values()}
    assert "127.0.0.1" not in targets and f"127.0.1.{QUERIES_KEPT - 250 + 1}" in targets
