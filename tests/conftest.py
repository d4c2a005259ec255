"""Shared fixtures. In CI (CI=true) a skipped test fails: every layer must run there."""

from __future__ import annotations

import dataclasses
import os
import shlex
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import FAKES
from webtrace import create_app
from webtrace.settings import Settings, _networks

# Browser fixtures are shared by the browser and edge layers.
pytest_plugins = ["tests.browser.fixtures"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Loopback is denied by the default policy; tests target nothing else.
LOOPBACK_SETTINGS = Settings(
    allow_networks=_networks("127.0.0.0/8,::1/128"),
    ping_count=3,
    ping_interval=0.2,
    mtr_count=3,
    mtr_interval=0.2,
    ratelimit="1000/minute",
    max_jobs_per_client=50,
)


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
