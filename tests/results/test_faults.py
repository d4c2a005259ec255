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

from tests.helpers import collect, eventually
from webtrace.results.sqlite import SqliteStore
from webtrace.results.store import Batch
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
