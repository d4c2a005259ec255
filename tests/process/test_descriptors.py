"""The warning before the server runs out of descriptors: the level's rule, a count of
this process's own descriptors, and a whole server under a low open-files limit."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from tests.helpers import eventually
from tests.server import running_server
from webtrace.process.descriptors import DescriptorWatch, level_after, open_descriptors


def test_the_level_rises_at_nine_tenths_and_falls_under_three_quarters() -> None:
    assert level_after("normal", 89, 100) == "normal"
    assert level_after("normal", 90, 100) == "high"
    # Between the two lines the level stays as it was: a count hovering says nothing more.
    assert level_after("high", 80, 100) == "high"
    assert level_after("normal", 80, 100) == "normal"
    assert level_after("high", 75, 100) == "high"
    assert level_after("high", 74, 100) == "normal"


def test_the_count_follows_the_descriptors_this_process_opens() -> None:
    before = open_descriptors()
    assert before is not None
    read_end, write_end = os.pipe()
    try:
        assert open_descriptors() == before + 2
    finally:
        os.close(read_end)
        os.close(write_end)
    assert open_descriptors() == before


def test_each_change_of_level_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    before = open_descriptors()
    assert before is not None
    # A limit of our own, above every descriptor held: this process's is far higher.
    watch = DescriptorWatch(limit=max(int(name) for name in os.listdir("/proc/self/fd")) + 12)
    in_use = open_descriptors()  # the watch's spare one among them
    assert in_use == before + 1 and watch.count() == in_use
    pipes: list[tuple[int, int]] = []
    with caplog.at_level(logging.INFO, logger="webtrace.process.descriptors"):
        try:
            watch.check()
            assert not caplog.records
            while (open_descriptors() or 0) < 0.9 * watch.limit:
                pipes.append(os.pipe())
            watch.check()
            watch.check()
            [warning] = caplog.records
            assert warning.levelno == logging.WARNING
            assert f"of the limit of {watch.limit} in use" in warning.getMessage()
            assert "LimitNOFILE" in warning.getMessage()
        finally:
            for pipe in pipes:
                os.close(pipe[0])
                os.close(pipe[1])
        watch.check()
        watch.check()
        watch.close()
    assert open_descriptors() == before
    back = f"open files: back to {in_use} of the limit of {watch.limit}"
    assert [r.getMessage() for r in caplog.records[1:]] == [back]


@pytest.mark.slow
async def test_a_server_near_its_open_files_limit_says_so_in_its_log_and_its_metrics(tmp_path: Path) -> None:
    env = {"WEBTRACE_IDLE_TIMEOUT": "60"}  # the held connections stay until they are closed
    async with running_server(tmp_path, env, unix=False, prefix=["prlimit", "--nofile=64:64"]) as server:
        host, _, port = server.base.removeprefix("http://").rpartition(":")
        held = []
        try:
            for _ in range(60):
                held.append(await asyncio.open_connection(host, int(port)))
            assert await eventually(lambda: "of the limit of 64 in use" in server.log.read_text(), timeout=10), \
                server.log.read_text()[-2000:]
        finally:
            for _, writer in held:
                writer.close()
        assert await eventually(lambda: "open files: back to" in server.log.read_text(), timeout=10), \
            server.log.read_text()[-2000:]
        async with server.session.get(f"{server.base}/metrics") as resp:
            metrics = await resp.text()
        assert "process_max_fds 64.0" in metrics and "process_open_fds " in metrics
        log = server.log.read_text()
        assert log.count("of the limit of 64 in use") == 1, log[-2000:]
