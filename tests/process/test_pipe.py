"""A tool's output pipe as the server reads it, on asyncio's own loop and on uvloop
(the server's): real pipes and real writers."""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
from collections.abc import Callable, Coroutine
from typing import Any

import psutil
import pytest
import uvloop

from tests.helpers import eventually
from webtrace.process.pipe import HIGH_WATER, READ_SIZE, PipeReader

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, None]], None]:
    def on_loop(test: Coroutine[Any, Any, None]) -> None:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as runner:
            runner.run(asyncio.wait_for(test, 20))
    return on_loop


def open_descriptors() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def test_output_arrives_as_it_is_written_and_ends_with_the_writer(run: Any) -> None:
    async def test() -> None:
        read_end, write_end = os.pipe()
        pipe = PipeReader(read_end)
        os.write(write_end, b"first\n")
        assert await pipe.read(100) == b"first\n"
        assert not pipe.at_eof()
        os.write(write_end, b"second\nthird\n")
        assert await pipe.read(7) == b"second\n"  # no more than asked for; the rest waits
        os.close(write_end)
        assert await pipe.read(100) == b"third\n"
        assert await pipe.read(100) == b""
        assert pipe.at_eof()
        pipe.close()

    run(test())


def test_a_tool_that_prints_faster_than_it_is_read_waits_on_its_pipe(run: Any) -> None:
    async def test() -> None:
        size = 8 * 1024 * 1024
        read_end, write_end = os.pipe()
        tool = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=write_end)
        os.close(write_end)
        pipe = PipeReader(read_end)
        try:
            # Unread, the output stops at the pipe's capacity and this reader's little
            # buffer: the tool is held in its write, not the server's memory filled.
            blocked = await eventually(lambda: psutil.Process(tool.pid).status() == psutil.STATUS_SLEEPING, 10)
            assert blocked and tool.poll() is None
            capacity = fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ)
            assert psutil.Process(tool.pid).io_counters().write_chars <= capacity + HIGH_WATER + READ_SIZE
            got = 0
            while chunk := await pipe.read(HIGH_WATER):
                got += len(chunk)
            assert got == size
            assert tool.wait(10) == 0
        finally:
            tool.kill()
            tool.wait()
            pipe.close()

    run(test())


def test_closing_ends_a_waiting_read_and_closes_the_descriptor_once(run: Any) -> None:
    async def test() -> None:
        before = open_descriptors()
        read_end, write_end = os.pipe()
        pipe = PipeReader(read_end)
        waiting = asyncio.ensure_future(pipe.read(100))
        await asyncio.sleep(0)
        assert not waiting.done()
        pipe.close()
        assert await waiting == b""
        reused = os.open(os.devnull, os.O_RDONLY)  # the number just freed, as a busy server would reuse it
        pipe.close()  # again: nothing, not the file that took its number
        os.fstat(reused)
        os.close(reused)
        os.close(write_end)
        assert open_descriptors() == before

    run(test())


def test_a_read_cancelled_leaves_the_pipe_readable(run: Any) -> None:
    async def test() -> None:
        read_end, write_end = os.pipe()
        pipe = PipeReader(read_end)
        waiting = asyncio.ensure_future(pipe.read(100))
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        os.write(write_end, b"after\n")
        assert await pipe.read(100) == b"after\n"
        os.close(write_end)
        assert await pipe.read() == b""  # to the end: nothing more
        pipe.close()

    run(test())
