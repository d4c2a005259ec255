"""Shared fixtures. In CI (CI=true) a skipped test fails: every layer must run there."""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import FAKES, TOOL_NAMES
from webtrace import create_app
from webtrace.net.addresses import parse_networks
from webtrace.settings import Settings

# Browser fixtures are shared by the browser and edge layers.
pytest_plugins = ["tests.browser.fixtures"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Loopback is denied by the default policy; tests target nothing else. Hop
# names are off: the name of ::1 is not in every /etc/hosts, and asking DNS for
# it would send a packet off this machine. Tests of names turn them on and
# target 127.0.0.1 (named in /etc/hosts) or a lab with its own resolver.
LOOPBACK_SETTINGS = Settings(
    allow_networks=parse_networks("127.0.0.0/8,::1/128"),
    names="off",
    results="memory://",
    ping_count=3,
    ping_interval=0.2,
    mtr_count=3,
    mtr_interval=0.2,
    mtr_grace=0.2,  # loopback answers at once: mtr need not wait 2 s for late answers
    ratelimit="1000/minute",
    max_jobs_per_client=50,
)


def pytest_configure(config: pytest.Config) -> None:
    # Whatever a test starts with default settings (an app, a server, a README
    # example) keeps its results in a directory of the run's own, never in the
    # home directory of the machine running the tests.
    state = tempfile.mkdtemp(prefix="webtrace-test-state-")
    os.environ["XDG_STATE_HOME"] = state
    config.stash[_STATE] = state


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        shutil.rmtree(state, ignore_errors=True)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED] = time.time()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No tool outlives the suite: whatever a test started has ended by now, every
    server included. A survivor fails the run (and is killed, so it cannot pile up)."""
    started = session.config.stash.get(_STARTED, None)
    if started is None:
        return
    deadline = time.monotonic() + 5
    while (left := _tools_started_since(started)) and time.monotonic() < deadline:
        time.sleep(0.1)  # a group killed as its server stopped may still be dying
    if left:
        lines = [_described(p) for p in left]
        for proc in left:
            try:
                os.killpg(os.getpgid(proc.pid), signal.SIGKILL)  # its children too
            except (ProcessLookupError, PermissionError):
                pass
        print("\ntools outlived the test run:\n" + "\n".join(lines), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _described(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} {' '.join(proc.cmdline())}"
    except psutil.Error:  # it ended meanwhile
        return f"{proc.pid} (ended meanwhile)"


def _tools_started_since(started: float) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.create_time() < started or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.name() in TOOL_NAMES or any(str(FAKES) in arg for arg in proc.cmdline()):
                found.append(proc)
        except psutil.NoSuchProcess:
            pass
    return found


_STARTED = pytest.StashKey[float]()
_STATE = pytest.StashKey[str]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test layer must run: {report.longrepr}"


@pytest.fixture
def settings() -> Settings:
    return LOOPBACK_SETTINGS


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    def make(**changes: Any) -> Settings:
        return dataclasses.replace(LOOPBACK_SETTINGS, **changes)

    return make


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> TestClient[web.Request, web.Application]:
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Any]) -> Callable[..., Any]:
    async def make(settings: Settings = LOOPBACK_SETTINGS, **kwargs: Any) -> TestClient[web.Request, web.Application]:
        return await aiohttp_client(create_app(settings, **kwargs))

    return make


@pytest.fixture
def fake_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Put a fake executable named ``name`` first on PATH, running ``tests/fakes/<script>``.

    Variables for the fake go in ``env``: the tools see the environment the server
    started with, so setting them in this process afterwards would not reach it.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def install(name: str, script: str, env: dict[str, str] | None = None) -> Path:
        path = bin_dir / name
        assignments = "".join(f"{key}={shlex.quote(value)} " for key, value in (env or {}).items())
        python = os.environ.get("PYTHON", "python3")
        path.write_text(f"#!/bin/sh\n{assignments}exec {python} {FAKES / script} \"$@\"\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    return install
