"""The async process runner: spawn a tool, read its lines, always end its process group.

It knows nothing of HTTP. A :class:`Run` is an async context manager whose
``batches()`` yields the decoded lines of each read as the tool prints them;
leaving the context, for whatever reason, ends the whole process group
(SIGTERM, then SIGKILL after a grace period) and reaps every member, the tool's
own children included (mtr's ``mtr-packet``). The runner holds the global cap
on concurrent runs, and tells its hooks of every run given a slot and of its
one outcome. Given a spawner (``webtrace.process.spawner``), it starts tools
through the spawn helper; without one, from the event loop itself.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Final, Protocol

from ..events import Outcome, Status
from ..refusals import ServerBusy
from .groups import reap_group, signal_group

log = logging.getLogger(__name__)

CHUNK: Final = 64 * 1024
MAX_LINE: Final = 1024 * 1024  # a longer line is split, never dropped


class ToolOutput(Protocol):
    """A tool's output: an ``asyncio.StreamReader``, or the spawner's ``PipeReader``."""

    async def read(self, n: int = -1) -> bytes: ...
    def at_eof(self) -> bool: ...


class ToolProcess(Protocol):
    """A started tool: a :class:`LocalProcess`, or a ``Child`` the spawn helper started."""

    @property
    def pid(self) -> int: ...
    @property
    def stdout(self) -> ToolOutput | None: ...
    @property
    def returncode(self) -> int | None: ...
    async def wait(self) -> int | None: ...

    def close(self) -> None:
        """Close the output pipe (the run is over, whatever is left in it)."""


class Spawner(Protocol):
    """Starts a tool off the event loop (``webtrace.process.spawner.Spawner``)."""

    async def spawn(self, argv: Sequence[str], *, executable: str | None = None) -> ToolProcess: ...


class Busy(ServerBusy):
    """The global cap on concurrent runs is reached."""


class ShuttingDown(ServerBusy):
    """The runner no longer starts runs."""

    code = "shutting_down"


class LocalProcess:
    """A tool started from the event loop itself, as a ``ToolProcess``."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self.pid = proc.pid
        self.stdout = proc.stdout

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def wait(self) -> int | None:
        return await self._proc.wait()

    def close(self) -> None:
        # asyncio's subprocess transport closes its pipes itself once the process
        # has exited and its output has ended, which _drain has waited for.
        pass


def split_lines(pending: bytes, chunk: bytes) -> tuple[list[str], bytes]:
    """Complete lines in ``pending + chunk``, and the incomplete rest."""
    data = pending + chunk
    parts = data.split(b"\n")
    rest = parts.pop()
    if len(rest) > MAX_LINE:
        parts.append(rest[:MAX_LINE])
        rest = rest[MAX_LINE:]
    return [decode(p) for p in parts], rest


def decode(raw: bytes) -> str:
    return raw.removesuffix(b"\r").decode("utf-8", "replace")


class ProcessRunner:
    def __init__(
        self,
        max_jobs: int,
        *,
        kill_grace: float = 0.5,
        on_start: Callable[[Run], None] | None = None,
        on_end: Callable[[Run, Outcome], None] | None = None,
        spawner: Spawner | None = None,
    ) -> None:
        self.max_jobs = max_jobs
        # With a spawner, tools start in the helper process, off the event loop;
        # without one, here (a blocking call each).
        self.spawner = spawner
        self.kill_grace = kill_grace
        # Told of every run given a slot, and then of its one outcome, however it
        # ended: before its spawn, failing to spawn, or after.
        self.on_start = on_start
        self.on_end = on_end
        self._runs: set[Run] = set()
        # Spawning here blocks the loop for a millisecond or more. Taking turns, one
        # spawn per loop pass, lets a crowd's requests get their headers in between.
        self._spawn_turn = asyncio.Lock()
        self._closing = False

    @property
    def active(self) -> int:
        return len(self._runs)

    @property
    def closing(self) -> bool:
        return self._closing

    def run(
        self,
        argv: Sequence[str],
        *,
        name: str,
        timeout: float,
        executable: str | None = None,
        timeout_words: str | None = None,
    ) -> Run:
        """Reserve a slot for one run; raises Busy or ShuttingDown at once.
        ``timeout_words``: what its end says when ``timeout`` ends it, where the
        usual sentence ("timed out") would mislead (a continuous run's most)."""
        self.check_capacity()
        run = Run(self, list(argv), name=name, timeout=timeout, executable=executable, timeout_words=timeout_words)
        self._runs.add(run)
        if self.on_start is not None:
            self.on_start(run)
        return run

    def check_capacity(self) -> None:
        """Raise Busy or ShuttingDown if a run could not start now."""
        if self._closing:
            raise ShuttingDown("the server is shutting down")
        if len(self._runs) >= self.max_jobs:
            raise Busy("the server is busy with as many runs as it allows; try again shortly")

    def _release(self, run: Run) -> None:
        self._runs.discard(run)

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every run with status ``shutdown`` and wait until all are reaped."""
        self._closing = True
        runs = list(self._runs)
        for run in runs:
            run.stop("shutdown")
        reapers = [r.reaped for r in runs if r.reaped is not None]
        if reapers:
            await asyncio.wait(reapers, timeout=timeout)


class Run:
    def __init__(
        self,
        runner: ProcessRunner,
        argv: list[str],
        *,
        name: str,
        timeout: float,
        executable: str | None,
        timeout_words: str | None = None,
    ) -> None:
        self._runner = runner
        self.timeout_words = timeout_words
        self._message: str | None = None  # the sentence given with stop(), if any
        self.argv = argv
        self.name = name
        self.timeout = timeout
        self._executable = executable
        self._proc: ToolProcess | None = None
        self._status: Status | None = None
        self._signalled = False
        self._started = time.monotonic()
        self._deadline = 0.0
        self._time_up = False
        self._reading: asyncio.Task[object] | None = None  # the task waiting for output, while it waits
        self.reaped: asyncio.Task[None] | None = None
        self.outcome: Outcome | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def abandon(self) -> None:
        """End a run that never started (its client left before the spawn) as
        ``cancelled``; a started run ends when it is reaped."""
        if self._proc is None and self.outcome is None:
            self._unstarted("cancelled", f"{self.name} was stopped: the client went away")

    def _unstarted(self, status: Status, message: str) -> None:
        self._status = status
        self.outcome = Outcome(status, None, 0.0, message)
        self._runner._release(self)
        if self._runner.on_end is not None:
            self._runner.on_end(self, self.outcome)

    async def __aenter__(self) -> Run:
        try:
            self._proc = await self._spawn()
        except OSError as exc:
            self._unstarted("failed", f"{self.name} could not start: {exc.strerror or exc}")
            raise
        except BaseException:
            self.abandon()
            raise
        self._started = time.monotonic()
        self._deadline = asyncio.get_running_loop().time() + self.timeout
        if self._runner.closing:  # shutdown began while the process was spawning
            self.stop("shutdown")
        return self

    async def _spawn(self) -> ToolProcess:
        spawner = self._runner.spawner
        if spawner is not None:
            return await spawner.spawn(self.argv, executable=self._executable)
        async with self._runner._spawn_turn:
            return LocalProcess(await asyncio.create_subprocess_exec(
                *self.argv,
                executable=self._executable,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            ))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            # A cancelled handler or a failed write both mean the client went away.
            gone = issubclass(exc_type, (asyncio.CancelledError, ConnectionError))
            self.stop("cancelled" if gone else "failed")
        await self.finish()

    async def batches(self) -> AsyncIterator[list[str]]:
        """The lines of each read, as the tool prints them, until it closes its output
        or the run is stopped. A batch lets a sink write many lines at once."""
        assert self._proc is not None and self._proc.stdout is not None
        reader = self._proc.stdout
        task = asyncio.current_task()
        assert task is not None
        # One timer for the run, not a timeout around each read: a busy server reads
        # thousands of times a second, and arming and cancelling a timer for each was
        # a twentieth of its CPU. At the deadline it cancels the read under way, if
        # one is (never a write of the lines read before).
        timer = asyncio.get_running_loop().call_at(self._deadline, self._deadline_passed)
        cancelling = task.cancelling()
        pending = b""
        try:
            while not self._time_up:
                self._reading = task
                try:
                    chunk = await reader.read(CHUNK)
                except asyncio.CancelledError:
                    if self._time_up and task.uncancel() <= cancelling:
                        break  # the deadline's, not the visitor leaving
                    raise
                finally:
                    self._reading = None
                if not chunk:
                    break
                lines, pending = split_lines(pending, chunk)
                if lines:
                    yield lines
        finally:
            timer.cancel()
        if self._time_up:
            self.stop("timeout")
            return
        if pending and self._status is None:
            yield [decode(pending)]

    def _deadline_passed(self) -> None:
        self._time_up = True
        if self._reading is not None:
            self._reading.cancel()

    def stop(self, status: Status, message: str | None = None) -> None:
        """End the run with ``status`` (the first reason given wins), its end saying
        ``message`` where given."""
        if self._status is None:
            self._status = status
            self._message = message
        if self._proc is None or self._signalled:
            return
        self._signalled = True
        signal_group(self._proc.pid, signal.SIGTERM)

    async def finish(self) -> Outcome:
        """Wait for the exit, end the group, reap it; idempotent."""
        if self._proc is None:
            raise RuntimeError("the run was never started")
        if self.reaped is None:
            self.reaped = asyncio.ensure_future(self._reap())
        # Shielded: a second cancellation must not leave the group unreaped.
        await asyncio.shield(self.reaped)
        assert self.outcome is not None
        return self.outcome

    async def _reap(self) -> None:
        proc = self._proc
        assert proc is not None
        try:
            if self._status is None:
                try:
                    async with asyncio.timeout_at(self._deadline):
                        await proc.wait()
                except TimeoutError:
                    self.stop("timeout")
            if proc.returncode is None:
                self.stop(self._status or "failed")
                try:
                    async with asyncio.timeout(self._runner.kill_grace):
                        await proc.wait()
                except TimeoutError:
                    signal_group(proc.pid, signal.SIGKILL)
                    await proc.wait()
            await reap_group(proc.pid, self._runner.kill_grace * 4)
            await _drain(proc)
        finally:
            proc.close()
            self.outcome = self._outcome(proc.returncode)
            self._runner._release(self)
            if self._runner.on_end is not None:
                self._runner.on_end(self, self.outcome)

    def _outcome(self, code: int | None) -> Outcome:
        duration = round(time.monotonic() - self._started, 3)
        status: Status = self._status or ("ok" if code == 0 else "failed")
        name = self.name
        if self._message is not None:
            message = self._message
        elif status == "ok":
            message = f"{name} finished"
        elif status == "failed":
            if code is None:
                message = f"{name} ended; its exit status is unknown"
            elif code < 0:
                message = f"{name} was killed by signal {-code}"
            else:
                message = f"{name} exited with status {code}"
        elif status == "timeout":
            message = self.timeout_words or f"{name} timed out after {self.timeout:g} s"
        elif status == "cancelled":
            message = f"{name} was stopped: the client went away"
        else:
            message = f"{name} was stopped: the server is shutting down"
        return Outcome(status, code, duration, message)


async def _drain(proc: ToolProcess) -> None:
    """Read what the dead tool left in its pipe, so that the pipe reaches its end
    (a reader stopped mid-stream would leave it open). A run read to its end, as
    most are, has nothing left: no timer then."""
    if proc.stdout is None or proc.stdout.at_eof():
        return
    try:
        async with asyncio.timeout(1.0):
            while await proc.stdout.read(CHUNK):
                pass
    except (TimeoutError, OSError):
        pass
