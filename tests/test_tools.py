import dataclasses
import re
from pathlib import Path

import pytest

from tests.runs.support import COUNTS, LIMITS, SPECS
from webtrace.net.targets import Family
from webtrace.refusals import BadRequest
from webtrace.settings import Settings
from webtrace.tools import (
    LINUX, TOOLS, WINDOWS, Counting, Options, RunLimits, ToolContext, ToolUnavailable, build_argv, choose_options,
    counted, locate, tools_for,
)

LINUX_TOOLS = tools_for(LINUX)
WINDOWS_TOOLS = tools_for(WINDOWS)


def ctx(address: str = "192.0.2.1", family: Family = Family.V4, *, protocol: str | None = None,
        port: int | None = None, count: int | None = None, tool: str = "ping") -> ToolContext:
    spec = LINUX_TOOLS.get(tool) or WINDOWS_TOOLS[tool]
    argv = spec.argv_on(LINUX) or spec.argv_on(WINDOWS)
    assert argv is not None
    chosen = Options(protocol or next(iter(argv.protocols)), port, count if count is not None else
                     {"ping": 4, "mtr": 10}.get(tool))
    return ToolContext(address=address, family=family, options=chosen, max_hops=30,
                       interval_s={"ping": 1.0, "mtr": 0.5}.get(tool), wait_s={"mtr": 2.0}.get(tool))


def test_linux_argv() -> None:
    assert build_argv(LINUX_TOOLS["ping"], ctx()) == ["ping", "-n", "-O", "-c", "4", "-i", "1", "-4", "192.0.2.1"]
    assert build_argv(LINUX_TOOLS["traceroute"], ctx("2001:db8::1", Family.V6, tool="traceroute")) == [
        "traceroute", "-n", "-6", "-q", "3", "-m", "30", "2001:db8::1"]
    assert build_argv(LINUX_TOOLS["mtr"], ctx(tool="mtr")) == [
        "mtr", "--raw", "--no-dns", "-c", "10", "-i", "0.5", "-G", "2", "-m", "30", "-4", "192.0.2.1"]


def test_windows_argv() -> None:
    assert build_argv(WINDOWS_TOOLS["ping"], ctx(), WINDOWS) == ["ping", "-n", "4", "-4", "192.0.2.1"]
    assert build_argv(WINDOWS_TOOLS["traceroute"], ctx("2001:db8::1", Family.V6, tool="traceroute"), WINDOWS) == [
        "tracert", "-d", "-h", "30", "-6", "2001:db8::1"]
    assert "mtr" not in WINDOWS_TOOLS


def test_platforms() -> None:
    assert list(tools_for("linux")) == ["mtr", "traceroute", "ping", "tracepath"]  # the page's order
    assert list(tools_for("win32")) == ["traceroute", "ping"]
    assert tools_for("freebsd14") == tools_for("linux")


def test_windows_output_is_streamed_as_lines_only() -> None:
    assert WINDOWS_TOOLS["ping"].parser_for("192.0.2.1", 4, WINDOWS) is None
    assert LINUX_TOOLS["ping"].parser_for("192.0.2.1", 4, LINUX) is not None


def test_every_record_takes_its_count_from_the_settings_and_has_a_text_route() -> None:
    settings = Settings()
    configured = counted(TOOLS, {name: Counting(*given) for name, given in settings.tool_counts().items()})
    for spec in configured:
        assert spec.count is None or spec.count == Counting(*settings.tool_counts()[spec.name])
        assert spec.text_route and "/" not in spec.text_route
    assert {spec.name for spec in TOOLS if spec.count is not None} == set(settings.tool_counts())
    assert [spec.text_route for spec in TOOLS] == ["mtr", "trace", "ping", "tracepath"]  # the original's, and one more


def test_the_address_is_always_the_last_argument() -> None:
    for platform in (LINUX, WINDOWS):
        for spec in tools_for(platform).values():
            assert build_argv(spec, ctx(tool=spec.name), platform)[-1] == "192.0.2.1"


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


def test_linux_argv_for_each_protocol_port_and_count() -> None:
    trace, mtr, ping = LINUX_TOOLS["traceroute"], LINUX_TOOLS["mtr"], LINUX_TOOLS["ping"]
    assert build_argv(trace, ctx(tool="traceroute", protocol="icmp"))[2:4] == ["-4", "-I"]
    assert build_argv(trace, ctx(tool="traceroute", protocol="tcp", port=443))[2:6] == ["-4", "-T", "-p", "443"]
    assert build_argv(trace, ctx(tool="traceroute", protocol="udp", port=53))[2:6] == ["-4", "-U", "-p", "53"]
    assert build_argv(trace, ctx(tool="traceroute", protocol="udp"))[1:4] == ["-n", "-4", "-q"]  # its own: rising ports
    assert build_argv(mtr, ctx(tool="mtr", protocol="udp"))[1:4] == ["--raw", "--no-dns", "--udp"]
    assert build_argv(mtr, ctx(tool="mtr", protocol="udp", port=5353))[3:6] == ["--udp", "-P", "5353"]
    assert build_argv(mtr, ctx(tool="mtr", protocol="tcp", port=80, count=7))[3:8] == ["--tcp", "-P", "80", "-c", "7"]
    assert build_argv(mtr, ctx(tool="mtr", protocol="icmp"))[3:5] == ["-c", "10"]
    assert build_argv(ping, ctx(count=9))[3:5] == ["-c", "9"]


def test_windows_speaks_icmp_only() -> None:
    assert list(WINDOWS_TOOLS["traceroute"].argv_on(WINDOWS).protocols) == ["icmp"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tool", "asked", "chosen"),
    [
        ("traceroute", {}, ("udp", None, None)),
        ("traceroute", {"protocol": "tcp"}, ("tcp", 80, None)),
        ("traceroute", {"protocol": "tcp", "port": "443"}, ("tcp", 443, None)),
        ("traceroute", {"protocol": "udp", "port": "53"}, ("udp", 53, None)),
        ("traceroute", {"protocol": "icmp"}, ("icmp", None, None)),
        ("mtr", {}, ("icmp", None, 3)),
        ("mtr", {"protocol": "tcp", "count": "5"}, ("tcp", 80, 5)),
        ("mtr", {"protocol": "udp", "port": "5353", "count": "1"}, ("udp", 5353, 1)),
        ("ping", {"count": "16"}, ("icmp", None, 16)),
        ("ping", {"protocol": "icmp", "count": ""}, ("icmp", None, 3)),
    ],
)
def test_options_and_their_defaults(tool: str, asked: dict[str, str], chosen: tuple[object, ...]) -> None:
    options = choose_options(SPECS[tool], LINUX, LIMITS, **asked)
    assert (options.protocol, options.port, options.count) == chosen


@pytest.mark.parametrize(
    ("tool", "asked", "says"),
    [
        ("ping", {"protocol": "tcp"}, "ping here cannot send TCP probes: protocol must be icmp"),
        ("traceroute", {"protocol": "sctp"}, "protocol must be icmp, udp or tcp, not 'sctp'"),
        ("traceroute", {"protocol": "icmp", "port": "80"}, "port means nothing with ICMP"),
        ("mtr", {"port": "80"}, "port means nothing with ICMP"),  # mtr's own is ICMP
        ("ping", {"port": "80"}, "port means nothing for ping"),
        ("traceroute", {"protocol": "tcp", "port": "0"}, "port must be a number from 1 to 65535, not '0'"),
        ("traceroute", {"protocol": "tcp", "port": "65536"}, "port must be a number from 1 to 65535"),
        ("traceroute", {"protocol": "udp", "port": "eighty"}, "port must be a number from 1 to 65535"),
        ("traceroute", {"count": "3"}, "count means nothing for traceroute"),
        ("ping", {"count": "0"}, "count must be a number from 1 to 16, not '0'"),
        ("mtr", {"count": "17"}, "count must be a number from 1 to 16"),
        ("ping", {"count": "-1"}, "count must be a number from 1 to 16"),
    ],
)
def test_options_that_mean_nothing_are_refused_by_name(tool: str, asked: dict[str, str], says: str) -> None:
    with pytest.raises(BadRequest, match=re.escape(says)):
        choose_options(SPECS[tool], LINUX, LIMITS, **asked)


def test_a_count_must_fit_in_the_time_a_run_may_last() -> None:
    limits = RunLimits(max_count=100, timeout_s=5.0)
    ping = dataclasses.replace(SPECS["ping"], count=Counting(3, 1.0))
    assert choose_options(ping, LINUX, limits, count="5").count == 5
    with pytest.raises(BadRequest, match=r"count 6 at one every 1 s would take 6 s, longer than the 5 s"):
        choose_options(ping, LINUX, limits, count="6")


def test_windows_has_no_tcp_traceroute() -> None:
    windows = tools_for("win32", counted(TOOLS, COUNTS))
    with pytest.raises(BadRequest, match="traceroute here cannot send TCP probes: protocol must be icmp"):
        choose_options(windows["traceroute"], "win32", LIMITS, protocol="tcp")
    assert choose_options(windows["traceroute"], "win32", LIMITS).protocol == "icmp"
