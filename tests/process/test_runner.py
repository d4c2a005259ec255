import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.helpers import FAKES, eventually, group_members
from webtrace.process.groups import become_subreaper, use_pidfd_child_watcher
from webtrace.process.runner import Busy, ProcessRunner, Run, ShuttingDown, split_lines
from webtrace.process.spawner import Spawner

MakeRunner = Callable[[int], ProcessRunner]


async def each_line(run: Run) -> AsyncIterator[str]:
    """The run's lines one by one, as its batches bring them."""
    async for batch in run.batches():
        for line in batch:
            yield line


@pytest.fixture(autouse=True, scope="module")
def subreaper() -> None:
    # As the server does at start-up: orphaned grandchildren come back here to be reaped.
    assert become_subreaper()


@pytest.fixture(params=["spawn-helper", "in-process"])
async def make_runner(request: pytest.FixtureRequest) -> AsyncIterator[MakeRunner]:
    """Every behaviour holds whether tools start in the helper or in this process."""
    spawner = Spawner() if request.param == "spawn-helper" else None
    yield lambda max_jobs: ProcessRunner(max_jobs, spawner=spawner)
    if spawner is not None:
        await spawner.close()


async def test_a_run_that_ends_well(make_runner: MakeRunner) -> None:
    runner = make_runner(4)
    run = runner.run(["ping", "-n", "-c", "2", "-i", "0.2", "127.0.0.1"], name="ping", timeout=10)
    async with run:
        lines = [line async for line in each_line(run)]
    assert lines[0].startswith("PING 127.0.0.1")
    assert any("icmp_seq=2" in line for line in lines)
    assert run.outcome is not None
    assert (run.outcome.status, run.outcome.exit_code) == ("ok", 0)
    assert run.outcome.message == "ping finished"
    assert runner.active == 0


async def test_a_tool_that_fails_reports_its_exit_code(make_runner: MakeRunner) -> None:
    run = make_runner(1).run(["ping", "-c", "1", "-I", "no-such-interface", "127.0.0.1"], name="ping", timeout=10)
    async with run:
        lines = [line async for line in each_line(run)]
    assert run.outcome is not None and run.outcome.status == "failed"
    assert run.outcome.exit_code not in (0, None)
    assert run.outcome.message == f"ping exited with status {run.outcome.exit_code}"
    assert any("no-such-interface" in line for line in lines)


async def test_timeout_kills_the_group(make_runner: MakeRunner) -> None:
    run = make_runner(1).run(["mtr", "--raw", "-c", "100", "-i", "0.2", "127.0.0.1"], name="mtr", timeout=0.8)
    async with run:
        async for _ in each_line(run):
            pass
    assert run.outcome is not None and run.outcome.status == "timeout"
    assert run.outcome.message == "mtr timed out after 0.8 s"
    assert run.pid is not None and group_members(run.pid) == []


async def test_the_deadline_ends_a_tool_that_says_nothing_and_ignores_sigterm(make_runner: MakeRunner) -> None:
    # Its output stays open and nothing arrives: the read under way is what the deadline ends.
    argv = ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
    run = make_runner(1).run(argv, name="sh", timeout=0.5)
    async with run:
        lines = [line async for line in each_line(run)]
    assert lines == []
    assert run.outcome is not None and run.outcome.status == "timeout"
    assert run.pid is not None and group_members(run.pid) == []


async def test_the_deadline_passing_during_a_slow_write_ends_the_run_not_the_write(make_runner: MakeRunner) -> None:
    run = make_runner(1).run(["ping", "-n", "-c", "100", "-i", "0.2", "127.0.0.1"], name="ping", timeout=0.5)
    batches = 0
    async with run:
        async for _ in run.batches():
            batches += 1
            # A write to a slow visitor, under way when the deadline passes: it finishes,
            # and the run ends at the next read rather than in the middle of it.
            await asyncio.sleep(1.0)
    assert batches == 1
    assert run.outcome is not None and run.outcome.status == "timeout"
    assert run.pid is not None and group_members(run.pid) == []


async def test_cancelling_the_reader_kills_mtr_and_mtr_packet(make_runner: MakeRunner) -> None:
    run = make_runner(1).run(["mtr", "--raw", "-c", "100", "-i", "0.2", "127.0.0.1"], name="mtr", timeout=30)
    first_line = asyncio.Event()

    async def read() -> None:
        async with run:
            async for _ in each_line(run):
                first_line.set()

    task = asyncio.create_task(read())
    await asyncio.wait_for(first_line.wait(), 10)
    assert run.pid is not None
    assert len(group_members(run.pid)) >= 2  # mtr and mtr-packet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert run.outcome is not None and run.outcome.status == "cancelled"
    assert group_members(run.pid) == []  # gone and reaped: not even a zombie


async def test_shutdown_stops_every_run(make_runner: MakeRunner, tmp_path: object) -> None:
    runner = make_runner(4)
    argv = ["ping", "-n", "-c", "100", "-i", "0.2", "127.0.0.1"]
    runs = [runner.run(argv, name="ping", timeout=30) for _ in range(2)]
    started = [asyncio.Event() for _ in runs]

    async def read(run: Run, started: asyncio.Event) -> None:
        async with run:
            async for _ in each_line(run):
                started.set()

    tasks = [asyncio.create_task(read(r, s)) for r, s in zip(runs, started, strict=False)]
    for s in started:
        await asyncio.wait_for(s.wait(), 10)
    await runner.shutdown()
    await asyncio.gather(*tasks)
    assert [r.outcome.status for r in runs if r.outcome] == ["shutdown", "shutdown"]
    assert all(group_members(r.pid) == [] for r in runs if r.pid)
    with pytest.raises(ShuttingDown):
        runner.run(["true"], name="true", timeout=1)


async def test_the_global_cap_refuses_at_once(make_runner: MakeRunner) -> None:
    runner = make_runner(1)
    first = runner.run(["true"], name="true", timeout=5)
    with pytest.raises(Busy):
        runner.run(["true"], name="true", timeout=5)
    async with first:
        async for _ in each_line(first):
            pass
    runner.run(["true"], name="true", timeout=5)  # the slot is free again


async def test_long_lines_and_invalid_utf8_survive(make_runner: MakeRunner) -> None:
    run = make_runner(1).run([sys.executable, str(FAKES / "bytes.py")], name="fake", timeout=10)
    async with run:
        lines = [line async for line in each_line(run)]
    assert lines[0] == "café \ufffd\ufffd broken"
    assert lines[1] == "x" * (200 * 1024)
    assert lines[2] == "no newline at the end"
    assert run.outcome is not None and (run.outcome.status, run.outcome.exit_code) == ("failed", 3)


async def test_children_of_the_tool_die_with_it(make_runner: MakeRunner, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    argv = ["env", f"WEBTRACE_TEST_GATE={gate}", sys.executable, str(FAKES / "gated.py")]
    run = make_runner(1).run(argv, name="fake", timeout=30)
    async with run:
        pid = run.pid
        assert pid is not None
        assert await eventually(lambda: len(group_members(pid)) == 2, 5)
        run.stop("cancelled")
        async for _ in each_line(run):
            pass
    assert group_members(pid) == []


def test_split_lines() -> None:
    assert split_lines(b"ab", b"c\nde\r\nf") == (["abc", "de"], b"f")
    lines, rest = split_lines(b"", b"y" * (2 * 1024 * 1024))
    assert len(lines) == 1 and len(rest) == 1024 * 1024


async def test_children_are_watched_through_pidfds() -> None:
    if sys.version_info >= (3, 12):
        pytest.skip("Python 3.12+ chooses pidfds by itself")  # pragma: no cover
    give_up = use_pidfd_child_watcher()
    assert give_up is not None
    try:
        assert type(asyncio.get_child_watcher()).__name__ == "PidfdChildWatcher"
        run = ProcessRunner(1).run(["true"], name="true", timeout=5)
        async with run:
            async for _ in each_line(run):
                pass
        assert run.outcome is not None and run.outcome.status == "ok"
    finally:
        give_up()
    assert type(asyncio.get_child_watcher()).__name__ != "PidfdChildWatcher"


async def test_a_run_abandoned_before_its_spawn_gives_its_slot_back(make_runner: MakeRunner) -> None:
    runner = make_runner(1)
    run = runner.run(["true"], name="true", timeout=5)
    assert runner.active == 1
    run.abandon()  # e.g. the client left between the headers and the spawn
    assert runner.active == 0 and run.pid is None
    assert run.outcome is not None and run.outcome.status == "cancelled"
    started = runner.run(["true"], name="true", timeout=5)
    async with started:
        async for _ in each_line(started):
            pass
    started.abandon()  # after a real run it changes nothing
    assert runner.active == 0 and started.outcome is not None and started.outcome.status == "ok"
