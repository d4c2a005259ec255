"""A store that fails costs a live run nothing: a full disk, a read-only file system,
a lock held by another process, a corrupt file; each with a real SQLite file."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import collect, eventually, eventually_async
from webtrace.results.sqlite import SqliteStore
from webtrace.results.store import Batch
from webtrace.results.writer import ResultWriter
from webtrace.web.keys import RESULTS

pytestmark = pytest.mark.edge


@contextmanager
def small_disk(path: Path, size: str = "512k") -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


async def run(client: Any) -> list[Any]:
    """A quick run (traceroute to loopback: every event within a few milliseconds)."""
    events = await collect(await client.get("/api/v1/traceroute", params={"target": "127.0.0.1"}))
    assert events[-1].data["status"] == "ok", events[-1].data  # the live run went as usual
    return events


async def stored(client: Any, result_id: str) -> dict[str, Any]:
    assert await eventually(lambda: result_id not in client.app[RESULTS].live, 10)
    resp = await client.get(f"/api/v1/results/{result_id}")
    assert resp.status == 200, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage().split(" (")[0] for r in caplog.records if r.name == "webtrace.results.writer"]


async def test_a_full_disk(tmp_path: Path, make_client: Any, make_settings: Any,
                           caplog: pytest.LogCaptureFixture) -> None:
    with small_disk(tmp_path / "disk") as disk:
        client = await make_client(make_settings(results=f"sqlite:///{disk}/results.sqlite3"))
        name = client.app[RESULTS].store.name
        await stored(client, (await run(client))[0].data["result"])
        filler = disk / "filler"
        with caplog.at_level(logging.WARNING):
            with open(filler, "wb") as out:  # fill it to the last block
                try:
                    while True:
                        out.write(b"\0" * 65536)
                        out.flush()
                except OSError:
                    pass
            events = await run(client)
            assert await eventually(lambda: client.app[RESULTS].writer.failing, 5)
            while_full = await run(client)
            assert while_full[0].data["result"] is None  # the store is known to fail: no link that would not work
            assert (await client.get("/healthz")).status == 200
            filler.unlink()  # space again: what waited is written
            body = await stored(client, events[0].data["result"])
        assert body["status"] == "ok" and not body["incomplete"] and len(body["events"]) == len(events)
        assert warnings_of(caplog) == [f"results could not be stored in {name}", f"results are stored in {name} again"]


async def test_a_read_only_file_system(tmp_path: Path, make_client: Any, make_settings: Any,
                                       caplog: pytest.LogCaptureFixture) -> None:
    with small_disk(tmp_path / "disk", "4m") as disk:
        # A file with results in it, on a file system that is read-only by the time the server starts.
        earlier = SqliteStore(disk / "results.sqlite3", 3600)
        await earlier.save([Batch("e" * 22, meta={"tool": "ping"}, started_at=time.time())])
        await earlier.close()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        client = await make_client(make_settings(results=f"sqlite:///{disk}/results.sqlite3"))
        with caplog.at_level(logging.WARNING):
            events = await run(client)
            assert await eventually(lambda: client.app[RESULTS].writer.failing, 5)
            subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
            body = await stored(client, events[0].data["result"])
        assert body["status"] == "ok" and not body["incomplete"]
        assert len(warnings_of(caplog)) == 2


LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


async def test_a_lock_held_by_another_process(tmp_path: Path, make_client: Any, make_settings: Any,
                                              caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "results.sqlite3"
    client = await make_client(make_settings(results=f"sqlite:///{path}"))
    await stored(client, (await run(client))[0].data["result"])
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert locker.stdin is not None and locker.stdout is not None
    try:
        assert locker.stdout.readline().strip() == "locked"
        with caplog.at_level(logging.WARNING):
            events = await run(client)
            assert await eventually(lambda: client.app[RESULTS].writer.failing, 10)
            locker.stdin.write("\n")
            locker.stdin.flush()
            body = await stored(client, events[0].data["result"])
    finally:
        locker.kill()
        locker.wait()
        locker.stdin.close()
        locker.stdout.close()
    assert body["status"] == "ok" and not body["incomplete"]
    assert len(warnings_of(caplog)) == 2


async def test_a_corrupt_file(tmp_path: Path, make_client: Any, make_settings: Any,
                              caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "results.sqlite3"
    path.write_bytes(b"not a database, whatever its name says" * 1000)
    client = await make_client(make_settings(results=f"sqlite:///{path}"))
    with caplog.at_level(logging.WARNING):
        events = await run(client)
        assert await eventually(lambda: client.app[RESULTS].writer.failing, 5)
        path.rename(tmp_path / "results.sqlite3.broken")  # what an operator does
        body = await stored(client, events[0].data["result"])
    assert body["status"] == "ok" and not body["incomplete"]
    assert len(warnings_of(caplog)) == 2


def fill(path: Path) -> None:
    """Fill the file system ``path`` is on, to its last block."""
    out = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(out, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(out)


def finished(result_id: str, events: int) -> Batch:
    now = time.time()
    return Batch(result_id, meta={"tool": "mtr"}, started_at=now, status="ok", ended_at=now,
                 events=[(n, "line", {"text": "x" * 300}) for n in range(1, events + 1)])


async def test_item_8_a_full_disk_resumes_even_with_a_result_larger_than_the_room_freed(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "2m") as disk:
        store = SqliteStore(disk / "results.sqlite3", 3600)
        writer = ResultWriter(store, 0.05, retry_interval=0.05)
        await store.save([finished("a" * 22, 1)])
        fill(disk / "filler")
        writer.add(finished("b" * 22, 1500))  # about 600 kB of events, waiting through the outage
        writer.add(finished("c" * 22, 2))
        assert await eventually(lambda: writer.failing, 5)
        os.truncate(disk / "filler", os.path.getsize(disk / "filler") - 300 * 1024)  # less than the large one needs

        async def small_one_stored() -> bool:
            return await store.load("c" * 22) is not None

        assert await eventually_async(small_one_stored, 10)  # not held up by the one that cannot fit
        (disk / "filler").unlink()
        assert await eventually(lambda: not writer.failing, 10)
        large = await store.load("b" * 22)
        assert large is not None and large.status == "ok" and len(large.events) == 1500
        await writer.close()
        await store.close()


async def test_item_8_a_file_moved_away_or_replaced_while_the_server_runs(tmp_path: Path, make_client: Any,
                                                                          make_settings: Any) -> None:
    path = tmp_path / "results.sqlite3"
    client = await make_client(make_settings(results=f"sqlite:///{path}"))
    before = (await run(client))[0].data["result"]
    await stored(client, before)
    path.rename(tmp_path / "moved.sqlite3")  # what an operator does with a file to keep
    after = (await run(client))[0].data["result"]
    assert (await stored(client, after))["status"] == "ok"
    assert path.exists()  # a new file, at the path the README names
    assert (await client.get(f"/api/v1/results/{before}")).status == 404  # it went with the old file
    # Replaced: a copy put in its place, as from a backup.
    (tmp_path / "moved.sqlite3").rename(tmp_path / "backup.sqlite3")
    path.unlink()
    path.write_bytes((tmp_path / "backup.sqlite3").read_bytes())
    assert (await stored(client, before))["status"] == "ok"
    third = (await run(client))[0].data["result"]
    assert (await stored(client, third))["status"] == "ok"


async def test_item_8_a_file_overwritten_while_the_server_runs(
    tmp_path: Path, make_client: Any, make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "results.sqlite3"
    client = await make_client(make_settings(results=f"sqlite:///{path}"))
    before = (await run(client))[0].data["result"]
    await stored(client, before)
    with caplog.at_level(logging.WARNING):
        with open(path, "r+b") as out:  # its bytes overwritten, the file left where it was
            out.write(os.urandom(path.stat().st_size))
        assert (await client.get(f"/api/v1/results/{before}")).status == 503
        await run(client)
        assert await eventually(lambda: client.app[RESULTS].writer.failing, 5)
        metrics = await (await client.get("/metrics")).text()
        assert "webtrace_results_store_failing 1.0" in metrics
        path.rename(tmp_path / "results.sqlite3.broken")  # what an operator does
        assert await eventually(lambda: not client.app[RESULTS].writer.failing, 5)  # the waiting write went in
        after = (await run(client))[0].data["result"]
        assert (await stored(client, after))["status"] == "ok"
    metrics = await (await client.get("/metrics")).text()
    assert "webtrace_results_store_failing 0.0" in metrics
    said = [r.getMessage().split(" (")[0] for r in caplog.records if r.name.startswith("webtrace.results")]
    name = client.app[RESULTS].store.name
    assert said.count(f"results could not be read from {name}") == 1
    assert said.count(f"results could not be stored in {name}") == 1
