import asyncio
import errno
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers import collect, eventually
from webtrace.process import spawner as spawner_module
from webtrace.process.groups import become_subreaper
from webtrace.process.spawner import HELPER, Child, Spawner


@pytest.fixture(autouse=True, scope="module")
def subreaper() -> None:
    assert become_subreaper()


# Each exit watched through the tool's pidfd (Linux 6.15 and later), and told by the helper (older kernels).
@pytest.fixture(params=[False, True], ids=["exits-by-pidfd", "exits-told-by-the-helper"])
async def spawner(request: pytest.FixtureRequest) -> AsyncIterator[Spawner]:
    spawner = Spawner(exits_here=request.param)
    await spawner.start()
    yield spawner
    await spawner.close()


async def output(child: Child) -> str:
    return (await asyncio.wait_for(child.stdout.read(), 10)).decode()


def helper_pid() -> int:
    """The spawn helper running now (one spawner at a time in these tests)."""
    found = []
    for child in psutil.Process().children():
        try:
            if str(HELPER) in child.cmdline():
                found.append(child.pid)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            pass
    [helper] = found
    return helper


def helper_children(spawner: Spawner) -> list[psutil.Process]:
    return [p for p in psutil.Process(helper_pid()).children() if p.status() != psutil.STATUS_ZOMBIE]


def marked(marker: str) -> list[int]:
    """Live processes with ``marker`` among their arguments."""
    found = []
    for proc in psutil.process_iter():
        try:
            if marker in proc.cmdline() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except psutil.NoSuchProcess:
            pass
    return found


async def test_a_tool_gets_a_session_output_and_its_exit_code(spawner: Spawner) -> None:
    child = await spawner.spawn(["sh", "-c", "echo out; echo err >&2; ps -o sid= -p $$; exit 3"])
    text = await output(child)
    lines = text.split()
    assert lines[:2] == ["out", "err"]  # standard error joins standard output
    assert int(lines[2]) == child.pid  # a session of its own, so its group can be ended
    assert await asyncio.wait_for(child.wait(), 10) == 3
    assert child.returncode == 3


async def test_the_helper_yields_to_the_server_but_tools_are_scheduled_as_usual(spawner: Spawner) -> None:
    child = await spawner.spawn([sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"])
    assert int(await output(child)) == os.SCHED_OTHER
    assert os.sched_getscheduler(helper_pid()) == os.SCHED_BATCH  # and serving, since it answered


async def test_tools_that_exit_as_they_start_report_their_codes(spawner: Spawner) -> None:
    # Some exit before a pidfd could be opened for them, or before the kernel has reaped them.
    children = await asyncio.gather(*(spawner.spawn(["sh", "-c", f"exit {n}"]) for n in range(1, 31)))
    codes = await asyncio.wait_for(asyncio.gather(*(child.wait() for child in children)), 20)
    assert codes == list(range(1, 31))
    for child in children:
        child.close()


def exits_by_pidfd() -> bool:
    """Whether a helper on this kernel has the server watch tools' exits (asked in a
    process of its own: the probe forks, as only a helper's single thread should)."""
    probe = "from webtrace.process.spawn_helper import exits_by_pidfd; print(exits_by_pidfd())"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "True\n"


def woken(pid: int) -> int:
    """How many times the process has gone to sleep and been woken."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt_switches"))


@pytest.mark.parametrize("exits_here", [False, True], ids=["exits-by-pidfd", "exits-told-by-the-helper"])
async def test_the_helper_sleeps_through_the_exits_where_the_kernel_tells_them(exits_here: bool) -> None:
    spawner = Spawner(exits_here=exits_here)
    try:
        children = [await spawner.spawn(["sleep", "30"]) for _ in range(5)]
        helper = psutil.Process(helper_pid())
        asleep: list[int] = []  # its count, read twice around seeing it asleep, waiting for requests

        def waiting() -> bool:
            count = woken(helper.pid)
            if helper.status() == psutil.STATUS_SLEEPING and woken(helper.pid) == count:
                asleep.append(count)
            return bool(asleep)

        assert await eventually(waiting, 5)
        before = asleep[0]
        for child in children:
            os.killpg(child.pid, signal.SIGTERM)
        codes = await asyncio.wait_for(asyncio.gather(*(child.wait() for child in children)), 10)
        assert codes == [-signal.SIGTERM] * 5
        if exits_here or not exits_by_pidfd():  # the helper reaps each tool, and says how it ended
            # Counted once it sleeps again: having told the last exit, it may still be on its way back.
            assert await eventually(lambda: woken(helper.pid) > before, 5)
        else:
            assert woken(helper.pid) == before
        for child in children:
            child.close()
    finally:
        await spawner.close()


def test_from_linux_6_15_a_tools_exit_is_watched_through_its_pidfd() -> None:
    # Before, tools' exits are told by the helper, as the tests marked exits-told-by-the-helper show.
    kernel = tuple(int(part) for part in os.uname().release.split("-")[0].split(".")[:2])
    assert exits_by_pidfd() or kernel < (6, 15)


async def test_a_killed_tool_reports_the_signal(spawner: Spawner) -> None:
    child = await spawner.spawn(["sleep", "30"])
    os.killpg(child.pid, signal.SIGTERM)
    assert await asyncio.wait_for(child.wait(), 10) == -signal.SIGTERM


async def test_a_tool_inherits_no_descriptor_and_no_ignored_signal(spawner: Spawner) -> None:
    child = await spawner.spawn(["sh", "-c", "ls /proc/self/fd; grep -E '^Sig(Ign|Blk)' /proc/self/status"])
    text = await output(child)
    fds = sorted(int(x) for x in text.splitlines() if x.isdigit())
    assert fds[:3] == [0, 1, 2] and len(fds) <= 4  # plus the descriptor ls opens to list them
    masks = dict(line.split(":\t") for line in text.splitlines() if line.startswith("Sig"))
    assert int(masks["SigBlk"], 16) == 0
    # Python ignores SIGPIPE; a tool must not. glibc's posix_spawn leaves its two
    # internal signals (32, 33) ignored, as in any child Python starts that way;
    # glibc sets its own handler before it uses them.
    glibc_internal = (1 << 31) | (1 << 32)
    assert int(masks["SigIgn"], 16) & ~glibc_internal == 0
    assert await child.wait() == 0


async def test_stdin_is_empty(spawner: Spawner) -> None:
    child = await spawner.spawn(["sh", "-c", "cat; echo done"])
    assert await output(child) == "done\n"


@pytest.mark.parametrize(("argv", "executable", "code"), [
    (["no-such-tool-here"], None, errno.ENOENT),
    (["x"], "/nonexistent/tool", errno.ENOENT),
    (["x"], "not-executable", errno.EACCES),
])
async def test_a_tool_that_cannot_start_raises_oserror(
    spawner: Spawner, argv: list[str], executable: str | None, code: int, tmp_path: Path
) -> None:
    if executable == "not-executable":
        script = tmp_path / "script"
        script.write_text("#!/bin/sh\necho never\n")
        script.chmod(0o644)
        executable = str(script)
    with pytest.raises(OSError) as raised:
        await spawner.spawn(argv, executable=executable)
    assert raised.value.errno == code
    assert helper_children(spawner) == []


async def test_tools_get_the_environment_the_server_started_with(
    spawner: Spawner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBTRACE_TEST_MARK", "set after start")
    child = await spawner.spawn(["sh", "-c", 'echo "${WEBTRACE_TEST_MARK-unset}"'])
    assert await output(child) == "unset\n"


async def test_a_spawn_cancelled_in_flight_leaves_no_process(spawner: Spawner, tmp_path: Path) -> None:
    marker = str(tmp_path / "cancelled")
    tasks = [asyncio.create_task(spawner.spawn(["sh", "-c", "sleep 30; true", marker])) for _ in range(20)]
    await asyncio.sleep(0)  # the requests are out; the helper is spawning
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    # Each answer that arrives after its asker left is killed at once; wait for the last one.
    done = await spawner.spawn(["true"])
    await done.wait()
    assert await eventually(lambda: marked(marker) == [], 5), marked(marker)


async def test_runs_outlive_the_helper_and_a_new_one_starts(spawner: Spawner, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    child = await spawner.spawn(["sh", "-c", f'read line < {gate}; echo "$line"; exec sleep 30'])
    first_helper = helper_pid()
    os.kill(first_helper, signal.SIGKILL)
    assert await eventually(lambda: not psutil.pid_exists(first_helper), 5)
    # The tool keeps running and printing, now a child of this process...
    with open(gate, "w") as writer:
        writer.write("still here\n")
    assert child.stdout is not None
    assert await asyncio.wait_for(child.stdout.read(100), 10) == b"still here\n"
    # ...which learns its exit.
    os.killpg(child.pid, signal.SIGTERM)
    assert await asyncio.wait_for(child.wait(), 10) == -signal.SIGTERM
    again = await spawner.spawn(["echo", "again"])
    assert helper_pid() != first_helper
    assert await output(again) == "again\n"


async def test_closing_with_a_spawn_in_flight_leaves_no_process(tmp_path: Path) -> None:
    marker = str(tmp_path / "in-flight")
    spawner = Spawner()
    await spawner.start()
    task = asyncio.create_task(spawner.spawn(["sh", "-c", "sleep 30; true", marker]))
    await asyncio.sleep(0)  # the request is out
    task.cancel()  # the client left; the server stops before the answer is read
    await spawner.close()
    await asyncio.gather(task, return_exceptions=True)
    assert await eventually(lambda: marked(marker) == [], 5), marked(marker)


async def test_close_stops_the_helper() -> None:
    spawner = Spawner()
    await spawner.start()
    helper = psutil.Process(helper_pid())
    await spawner.close()
    assert not helper.is_running() or helper.status() == psutil.STATUS_ZOMBIE
    with pytest.raises(OSError):
        await spawner.spawn(["true"])


async def test_a_helper_that_stops_as_it_starts_fails_the_spawn_with_oserror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stops = tmp_path / "helper.py"
    stops.write_text("")  # a helper that exits at once
    monkeypatch.setattr(spawner_module, "HELPER", stops)
    spawner = Spawner()
    started = spawner._start

    async def start_and_see_it_stop() -> None:
        await started()
        assert spawner._gone is not None
        await asyncio.wait_for(asyncio.shield(spawner._gone), 10)

    monkeypatch.setattr(spawner, "_start", start_and_see_it_stop)
    try:
        with pytest.raises(OSError, match="the spawn helper stopped"):
            await spawner.spawn(["true"])
    finally:
        await spawner.close()


async def test_without_a_helper_the_server_starts_tools_itself(
    make_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(spawner_module, "_interpreter", lambda: "/nonexistent/python")
    client = await make_client()
    assert "the spawn helper could not start" in caplog.text
    events = await collect(await client.get("/api/v1/ping", params={"target": "127.0.0.1"}))
    assert events[-1].data["status"] == "ok"
    assert [e for e in events if e.event == "reply"]


async def test_the_helper_runs_this_interpreter_even_where_its_path_cannot_be_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interpreter = os.path.realpath("/proc/self/exe")
    unrunnable = tmp_path / "python"  # as a path through a directory the service's user cannot search is
    unrunnable.write_text("")
    monkeypatch.setattr(sys, "executable", str(unrunnable))
    spawner = Spawner()
    try:
        child = await spawner.spawn(["true"])
        assert await child.wait() == 0
        child.close()
        assert spawner._helper is not None
        assert os.path.realpath(f"/proc/{spawner._helper.pid}/exe") == interpreter
    finally:
        await spawner.close()


def test_the_helper_answers_a_malformed_request_and_keeps_serving() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    helper = subprocess.Popen([sys.executable, "-I", "-S", str(HELPER), str(theirs.fileno())],
                              pass_fds=[theirs.fileno()])
    theirs.close()
    try:
        ours.settimeout(10)
        for bad in (b"not json", b"[1, 2]", b'{"id": 1}'):
            ours.send(bad)
            assert json.loads(ours.recv(65536))["errno"] == errno.EINVAL
        ours.send(json.dumps({"id": 2, "argv": ["true"]}).encode())
        message, ancillary, _, _ = ours.recvmsg(65536, socket.CMSG_SPACE(8))
        answer = json.loads(message)
        fds = [fd for _, _, data in ancillary for fd in struct.unpack(f"{len(data) // 4}i", data)]
        assert answer["id"] == 2 and len(fds) == (2 if answer.get("pidfd") else 1)  # its pipe, and its pidfd
        for fd in fds:
            os.close(fd)
    finally:
        ours.close()
        assert helper.wait(10) == 0


async def test_an_answer_with_a_pid_but_no_pipe_fails_the_spawn_and_ends_the_tool(tmp_path: Path) -> None:
    # What the helper's answer looks like when this process had no descriptor left
    # to receive the pipe with (the kernel drops it): the tool runs, unreadable.
    marker = str(tmp_path / "pipeless")
    pid = os.posix_spawnp("sh", ["sh", "-c", "sleep 30; true", marker], os.environ, setsid=True)
    spawner = Spawner()
    answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    spawner._answers[1] = answer
    spawner._dispatch({"id": 1, "pid": pid}, [])
    with pytest.raises(OSError):
        await answer
    assert await eventually(lambda: marked(marker) == [], 5), marked(marker)
    await spawner.close()  # waits for the group to be reaped
    assert not psutil.pid_exists(pid)
