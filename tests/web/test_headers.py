from collections.abc import Callable
from typing import Any

from tests.helpers import collect


async def test_security_headers_everywhere(client: Any) -> None:
    for path, params in (("/", {}), ("/api/v1/ping", {"target": "127.0.0.1"}), ("/ping", {}),
                         ("/api/v1/ping", {"target": "-x"}), ("/static/js/main.js", {})):
        resp = await client.get(path, params=params)
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Server"] == "webtrace"
        if resp.content_type == "text/event-stream":
            await collect(resp)


async def test_a_stream_says_it_closes_its_connection_when_asked_to(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    # Told keep-alive, a client that asked to close kept the connection the server then
    # closed, and sent its next request on it.
    client = await make_client(make_settings(node_name="lon1"))
    result = (await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"})))[0].data["result"]
    streams: tuple[tuple[str, dict[str, str]], ...] = (
        ("/api/v1/ping", {"target": "127.0.0.1"}), ("/api/v1/ping", {"target": "127.0.0.1", "nodes": "lon1"}),
        (f"/api/v1/results/{result}/events", {}))
    for path, params in streams:
        closing = await client.get(path, params=params, headers={"Connection": "close"})
        assert closing.content_type == "text/event-stream"
        assert closing.headers["Connection"] == "close", path
        assert [e.event for e in await collect(closing)][-1] in ("end", "done"), path
        kept = await client.get(path, params=params)
        assert "Connection" not in kept.headers, path  # HTTP/1.1 keeps it unless told otherwise
        assert [e.event for e in await collect(kept)][-1] in ("end", "done"), path


async def test_embed_origins_may_frame_the_page(
    make_client: Callable[..., Any], make_settings: Callable[..., Any]
) -> None:
    client = await make_client(make_settings(embed_origins=("https://www.example.net",)))
    resp = await client.get("/", params={"embed": "1"})
    assert "frame-ancestors https://www.example.net" in resp.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in resp.headers


async def test_static_files_are_cacheable(client: Any) -> None:
    page = await (await client.get("/")).text()
    versioned = page.split('src="', 1)[1].split('"', 1)[0]
    assert "?v=" in versioned
    resp = await client.get("/" + versioned.replace("&amp;", "&"))
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.headers["ETag"] and resp.headers["Last-Modified"]
    plain = await client.get("/static/js/main.js")
    assert plain.headers["Cache-Control"] == "public, no-cache"
    again = await client.get("/static/js/main.js", headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status == 304
