"""The systemd units, and webtrace run as systemd would: unprivileged, with only CAP_NET_RAW."""

import configparser
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import collect
from tests.server import LOOPBACK_ENV, running_server

SYSTEMD = Path(__file__).parent.parent.parent / "systemd"
UNIT_SETS = {"standalone": [SYSTEMD / "webtrace.service"],
             "socket-activated": [SYSTEMD / "socket-activated" / "webtrace.socket",
                                  SYSTEMD / "socket-activated" / "webtrace.service"]}
WEBTRACE = Path(sys.prefix) / "bin" / "webtrace"


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


@pytest.mark.parametrize("name", list(UNIT_SETS))
def test_units_pass_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (make test installs systemd)")
    copies = []
    for path in UNIT_SETS[name]:
        # verify checks that ExecStart exists: point it at this environment's webtrace.
        copy = tmp_path / path.name
        copy.write_text(path.read_text().replace("/opt/webtrace/venv/bin/webtrace", str(WEBTRACE)))
        copies.append(str(copy))
    result = subprocess.run(["systemd-analyze", "verify", *copies], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == result.stderr == "", "systemd-analyze has warnings:\n" + result.stderr


@pytest.mark.parametrize("path", [SYSTEMD / "webtrace.service", SYSTEMD / "socket-activated" / "webtrace.service"])
def test_service_is_hardened(path: Path) -> None:
    service = unit(path)["Service"]
    assert service["DynamicUser"] == "yes"
    assert service["StateDirectory"] == "webtrace"  # where the results file lives
    assert service["AmbientCapabilities"] == "CAP_NET_RAW"
    assert service["CapabilityBoundingSet"] == "CAP_NET_RAW"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes"}.items():
        assert service[key] == value
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}
    for limit in ("LimitNOFILE", "TasksMax", "MemoryMax"):
        assert service[limit]


def test_socket_unit_listens_where_nginx_expects() -> None:
    socket = unit(SYSTEMD / "socket-activated" / "webtrace.socket")["Socket"]
    assert socket["ListenStream"] == "/run/webtrace/webtrace.sock"
    assert "--unix-socket" not in unit(SYSTEMD / "socket-activated" / "webtrace.service")["Service"]["ExecStart"]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory an unprivileged server can create its socket in."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("running as another user needs root and setpriv")
    path = Path(tempfile.mkdtemp(prefix="webtrace-unpriv-"))
    nobody = pwd.getpwnam("nobody")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def setpriv(*, net_raw: bool) -> list[str]:
    """As systemd's DynamicUser= with AmbientCapabilities=CAP_NET_RAW (or with none)."""
    caps = "-all,+net_raw" if net_raw else "-all"
    ambient = [f"--ambient-caps={caps}"] if net_raw else []
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", f"--inh-caps={caps}",
            *ambient, f"--bounding-set={caps}", "--no-new-privs"]


async def test_unprivileged_with_only_cap_net_raw_runs_every_tool(shared_dir: Path) -> None:
    state = shared_dir / "state"  # as systemd's StateDirectory=, owned by the service's user
    state.mkdir()
    nobody = pwd.getpwnam("nobody")
    os.chown(state, nobody.pw_uid, nobody.pw_gid)
    env = {"WEBTRACE_MTRCOUNT": "2", "WEBTRACE_PINGCOUNT": "2", "WEBTRACE_MTRINTERVAL": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "STATE_DIRECTORY": str(state)}
    async with running_server(shared_dir, env, prefix=setpriv(net_raw=True)) as server:
        status = Path(f"/proc/{server.process.pid}/status").read_text()
        assert "Uid:\t65534" in status and "CapEff:\t0000000000002000" in status
        for tool, options in (("ping", {}), ("traceroute", {}), ("mtr", {}),
                              # TCP and ICMP probes need a raw socket: CAP_NET_RAW is enough.
                              ("traceroute", {"protocol": "tcp"}), ("traceroute", {"protocol": "icmp"}),
                              ("traceroute", {"protocol": "udp", "port": "53"}),
                              ("mtr", {"protocol": "tcp"}), ("mtr", {"protocol": "udp"})):
            url = f"{server.base}/api/v1/{tool}"
            events = await collect(await server.session.get(url, params={"target": "127.0.0.1", **options}))
            assert events[-1].data["status"] == "ok", (tool, options, [e.data for e in events])
            assert [e for e in events if e.event in ("reply", "hop")], (tool, options)
        # Every run's result is in the state directory, readable by its link.
        result = await server.session.get(f"{server.base}/api/v1/results/{events[0].data['result']}")
        assert result.status == 200 and (await result.json())["tool"] == "mtr"
        assert (state / "results.sqlite3").stat().st_uid == nobody.pw_uid


async def test_without_cap_net_raw_the_tools_fail_visibly(shared_dir: Path) -> None:
    async with running_server(shared_dir, {"PYTHONDONTWRITEBYTECODE": "1"}, prefix=setpriv(net_raw=False)) as server:
        events = await collect(await server.session.get(f"{server.base}/api/v1/ping", params={"target": "127.0.0.1"}))
        end = events[-1].data
        # The kernel refuses to exec ping (its file capability exceeds the bounding set).
        assert end["status"] == "failed"
        assert end["message"] == "ping could not start: Operation not permitted"


async def test_socket_activation_serves_on_the_inherited_socket(tmp_path: Path) -> None:
    activate = shutil.which("systemd-socket-activate")
    if activate is None:
        pytest.skip("systemd-socket-activate is not installed (make test installs systemd)")
    sock = tmp_path / "activated.sock"
    # Like systemd, it gives the child a clean environment: settings are passed explicitly.
    settings = [arg for name in (*LOOPBACK_ENV, "XDG_STATE_HOME") for arg in ("-E", name)]
    argv = [activate, "-l", str(sock), *settings, "-E", "PATH", sys.executable, "-m", "webtrace"]
    async with running_server(tmp_path, argv=argv, sock_name="activated.sock") as server:
        assert await (await server.session.get(f"{server.base}/healthz")).text() == "ok"
        events = await collect(await server.session.get(f"{server.base}/api/v1/ping", params={"target": "127.0.0.1"}))
        assert events[-1].data["status"] == "ok"
        assert f"Running on http://unix:{sock}" in server.log.read_text()
