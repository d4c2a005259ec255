from pathlib import Path

import pytest

from webtrace.targets import Family
from webtrace.tools import LINUX, WINDOWS, ToolContext, ToolUnavailable, build_argv, locate, tools_for


def ctx(address: str = "192.0.2.1", family: Family = Family.V4) -> ToolContext:
    return ToolContext(address=address, family=family, ping_count=4, ping_interval=1.0,
                       mtr_count=10, mtr_interval=0.5, max_hops=30)


def test_linux_argv() -> None:
    assert build_argv(LINUX["ping"], ctx()) == ["ping", "-n", "-O", "-c", "4", "-i", "1", "-4", "192.0.2.1"]
    assert build_argv(LINUX["traceroute"], ctx("2001:db8::1", Family.V6)) == [
        "traceroute", "-6", "-q", "3", "-m", "30", "2001:db8::1"]
    assert build_argv(LINUX["mtr"], ctx()) == [
        "mtr", "--raw", "-c", "10", "-i", "0.5", "-m", "30", "-4", "192.0.2.1"]


def test_windows_argv() -> None:
    assert build_argv(WINDOWS["ping"], ctx()) == ["ping", "-n", "4", "-4", "192.0.2.1"]
    assert build_argv(WINDOWS["traceroute"], ctx("2001:db8::1", Family.V6)) == [
        "tracert", "-h", "30", "-6", "2001:db8::1"]
    assert "mtr" not in WINDOWS


def test_platforms() -> None:
    assert tools_for("linux") is LINUX
    assert tools_for("win32") is WINDOWS
    assert tools_for("freebsd14") is LINUX


def test_the_address_is_always_the_last_argument() -> None:
    for spec in [*LINUX.values(), *WINDOWS.values()]:
        assert build_argv(spec, ctx())[-1] == "192.0.2.1"


def test_a_missing_tool_is_reported_for_that_tool(tmp_path: object) -> None:
    with pytest.raises(ToolUnavailable, match="mtr is not installed"):
        locate(LINUX["mtr"], path=str(tmp_path))
    assert locate(LINUX["ping"]).endswith("/ping")


def test_a_tool_found_once_is_found_again_and_one_removed_is_missed(tmp_path: Path) -> None:
    tool = tmp_path / "mtr"
    with pytest.raises(ToolUnavailable):
        locate(LINUX["mtr"], path=str(tmp_path))
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert locate(LINUX["mtr"], path=str(tmp_path)) == str(tool)  # installed later: used
    assert locate(LINUX["mtr"], path=str(tmp_path)) == str(tool)
    tool.unlink()
    with pytest.raises(ToolUnavailable):
        locate(LINUX["mtr"], path=str(tmp_path))
