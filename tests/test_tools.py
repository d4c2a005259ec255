from pathlib import Path

import pytest

from webtrace.net.targets import Family
from webtrace.settings import Settings
from webtrace.tools import LINUX, TOOLS, WINDOWS, ToolContext, ToolUnavailable, build_argv, locate, tools_for

LINUX_TOOLS = tools_for(LINUX)
WINDOWS_TOOLS = tools_for(WINDOWS)


def ctx(address: str = "192.0.2.1", family: Family = Family.V4) -> ToolContext:
    return ToolContext(address=address, family=family, ping_count=4, ping_interval=1.0,
                       mtr_count=10, mtr_interval=0.5, max_hops=30)


def test_linux_argv() -> None:
    assert build_argv(LINUX_TOOLS["ping"], ctx()) == ["ping", "-n", "-O", "-c", "4", "-i", "1", "-4", "192.0.2.1"]
    assert build_argv(LINUX_TOOLS["traceroute"], ctx("2001:db8::1", Family.V6)) == [
        "traceroute", "-6", "-q", "3", "-m", "30", "2001:db8::1"]
    assert build_argv(LINUX_TOOLS["mtr"], ctx()) == [
        "mtr", "--raw", "-c", "10", "-i", "0.5", "-m", "30", "-4", "192.0.2.1"]


def test_windows_argv() -> None:
    assert build_argv(WINDOWS_TOOLS["ping"], ctx(), WINDOWS) == ["ping", "-n", "4", "-4", "192.0.2.1"]
    assert build_argv(WINDOWS_TOOLS["traceroute"], ctx("2001:db8::1", Family.V6), WINDOWS) == [
        "tracert", "-h", "30", "-6", "2001:db8::1"]
    assert "mtr" not in WINDOWS_TOOLS


def test_platforms() -> None:
    assert list(tools_for("linux")) == ["mtr", "traceroute", "ping"]  # the page's order
    assert list(tools_for("win32")) == ["traceroute", "ping"]
    assert tools_for("freebsd14") == tools_for("linux")


def test_windows_output_is_streamed_as_lines_only() -> None:
    assert WINDOWS_TOOLS["ping"].parser_for("192.0.2.1", 4, WINDOWS) is None
    assert LINUX_TOOLS["ping"].parser_for("192.0.2.1", 4, LINUX) is not None


def test_every_record_names_a_real_progress_setting_and_a_text_route() -> None:
    settings = Settings()
    for spec in TOOLS:
        assert spec.progress_total is None or isinstance(getattr(settings, spec.progress_total), int)
        assert spec.text_route and "/" not in spec.text_route
    assert [spec.text_route for spec in TOOLS] == ["mtr", "trace", "ping"]  # the original's routes


def test_the_address_is_always_the_last_argument() -> None:
    for platform in (LINUX, WINDOWS):
        for spec in tools_for(platform).values():
            assert build_argv(spec, ctx(), platform)[-1] == "192.0.2.1"


def test_a_missing_tool_is_reported_for_that_tool(tmp_path: object) -> None:
    with pytest.raises(ToolUnavailable, match="mtr is not installed"):
        locate(LINUX_TOOLS["mtr"], LINUX, path=str(tmp_path))
    assert locate(LINUX_TOOLS["ping"]).endswith("/ping")


def test_a_tool_found_once_is_found_again_and_one_removed_is_missed(tmp_path: Path) -> None:
    tool = tmp_path / "mtr"
    with pytest.raises(ToolUnavailable):
        locate(LINUX_TOOLS["mtr"], LINUX, path=str(tmp_path))
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert locate(LINUX_TOOLS["mtr"], LINUX, path=str(tmp_path)) == str(tool)  # installed later: used
    assert locate(LINUX_TOOLS["mtr"], LINUX, path=str(tmp_path)) == str(tool)
    tool.unlink()
    with pytest.raises(ToolUnavailable):
        locate(LINUX_TOOLS["mtr"], LINUX, path=str(tmp_path))
