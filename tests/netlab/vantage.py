"""Vantage points in network namespaces: three webtrace nodes, each with its own path
to one target, a front that runs from them, and room for nginx in front of it.

    front ─┬─ n1 ──────────────── target      1 hop
           ├─ n2 ── r2 ────────── target      2 hops
           └─ n3 ── r3a ── r3b ── target      3 hops, r3a drops some echo requests
                     └──── r2                 (r3a's other way, see ``r3a_via_r2``)

The front reaches each node over a link of its own (192.0.2.0/28, .16/28, .32/28);
the paths are 198.51.100.0/24 cut in /28s; the target answers on 203.0.113.100.
Each router's links are in an AS of its own in the nodes' AS database (``NETWORKS``):
the path from n3 moves from AS64531 to AS64520 at its second hop when r3a's route
to the target is moved to r2.
The front and nginx listen on unix sockets, which the tests (in the root
namespace) reach through the file system. Needs root.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.ipdbs import write_asn_db
from tests.netlab.lab import LabUnavailable, missing_requirements

TARGET = "203.0.113.100"
NODES = ("n1", "n2", "n3")
HOPS = {"n1": 1, "n2": 2, "n3": 3}
NODE_PORT = 8080
LOSS_PERCENT = 30
FRONT_ADDRESS = {"n1": "192.0.2.2", "n2": "192.0.2.18", "n3": "192.0.2.34"}
NODE_ADDRESS = {"n1": "192.0.2.1", "n2": "192.0.2.17", "n3": "192.0.2.33"}

# (left, left address, right, right address) per link, each a /28.
LINKS = [
    ("n1", NODE_ADDRESS["n1"], "front", FRONT_ADDRESS["n1"]),
    ("n2", NODE_ADDRESS["n2"], "front", FRONT_ADDRESS["n2"]),
    ("n3", NODE_ADDRESS["n3"], "front", FRONT_ADDRESS["n3"]),
    ("n1", "198.51.100.1", "target", "198.51.100.2"),
    ("n2", "198.51.100.17", "r2", "198.51.100.18"),
    ("r2", "198.51.100.33", "target", "198.51.100.34"),
    ("n3", "198.51.100.49", "r3a", "198.51.100.50"),
    ("r3a", "198.51.100.65", "r3b", "198.51.100.66"),
    ("r3b", "198.51.100.81", "target", "198.51.100.82"),
    ("r3a", "198.51.100.97", "r2", "198.51.100.98"),
]
R3A_NEXT = {"r3b": "198.51.100.66", "r2": "198.51.100.98"}  # r3a's two ways to the target
ROUTES = {
    "n1": [(f"{TARGET}/32", "198.51.100.2")],
    "n2": [(f"{TARGET}/32", "198.51.100.18")],
    "r2": [(f"{TARGET}/32", "198.51.100.34"), ("198.51.100.48/28", "198.51.100.97")],
    "n3": [(f"{TARGET}/32", "198.51.100.50")],
    "r3a": [(f"{TARGET}/32", R3A_NEXT["r3b"])],
    "r3b": [(f"{TARGET}/32", "198.51.100.82"), ("198.51.100.48/28", "198.51.100.65")],
    "target": [("198.51.100.16/28", "198.51.100.33"), ("198.51.100.48/28", "198.51.100.81")],
}
ROUTERS = ("r2", "r3a", "r3b")
# network -> (AS number, AS name, country): each router's links in an AS of its own.
NETWORKS: dict[str, tuple[int, str, str]] = {
    "198.51.100.0/28": (64510, "Direct Example", "NL"),
    "198.51.100.16/28": (64520, "Transit Two", "DE"),
    "198.51.100.32/28": (64520, "Transit Two", "DE"),
    "198.51.100.96/28": (64520, "Transit Two", "DE"),
    "198.51.100.48/28": (64530, "Access Three", "FR"),
    "198.51.100.64/28": (64531, "Transit Three", "FR"),
    "198.51.100.80/28": (64531, "Transit Three", "FR"),
    "203.0.113.0/24": (64502, "Target Hosting", "JP"),
}
HOSTS = ("front", *NODES, *ROUTERS, "target")
LOSSY = f"""
table inet lossy {{
    chain lossy_forward {{
        type filter hook forward priority 0; policy accept;
        ip daddr {TARGET} icmp type echo-request numgen random mod 100 < {LOSS_PERCENT} drop
    }}
}}
"""


@dataclass
class VantageLab:
    suffix: str
    work: Path
    nodes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def ns(self, host: str) -> str:
        return f"wv{self.suffix}-{host}"

    def exec_argv(self, host: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def run(self, host: str, argv: Sequence[str], **kwargs: object) -> None:
        subprocess.run(self.exec_argv(host, argv), check=True, capture_output=True, text=True,
                       **kwargs)  # type: ignore[call-overload]

    def node_url(self, name: str) -> str:
        return f"http://{NODE_ADDRESS[name]}:{NODE_PORT}"

    def pids(self, host: str) -> list[int]:
        """The processes in a namespace (a node's server and whatever it runs)."""
        out = subprocess.run(["ip", "netns", "pids", self.ns(host)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def tools_in(self, host: str) -> list[str]:
        found = []
        for pid in self.pids(host):
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if name in ("ping", "traceroute", "mtr", "mtr-packet") and state != "Z":
                found.append(name)
        return found

    def start_node(self, name: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A webtrace in the node's namespace, on its link to the front; it trusts the front."""
        log = self.work / f"{name}.log"
        full = {**os.environ, "XDG_STATE_HOME": str(self.work / f"{name}-state"),
                "WEBTRACE_NODE_NAME": name, "WEBTRACE_SERVERINFO": f"{name}, {HOPS[name]} hops from the target",
                "WEBTRACE_ALLOW_NETWORKS": "203.0.113.0/24", "WEBTRACE_NAMES": "off",
                "WEBTRACE_ASN_DB": str(self.work / "asn.mmdb"),
                "WEBTRACE_TRUSTED_PROXIES": f"{FRONT_ADDRESS[name]}/32",
                "WEBTRACE_PINGINTERVAL": "0.2", "WEBTRACE_MTRINTERVAL": "0.2", **(env or {})}
        start = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as out:  # a node started again keeps its earlier log
            process = subprocess.Popen(
                self.exec_argv(name, [sys.executable, "-m", "webtrace", "--host", NODE_ADDRESS[name],
                                      "--port", str(NODE_PORT)]),
                env=full, stdout=out, stderr=subprocess.STDOUT)
        _wait_for(log, re.compile(r"Running on http://"), process, start)
        self.nodes[name] = process
        return process

    @contextmanager
    def r3a_via_r2(self) -> Iterator[None]:
        """r3a's route to the target moved to r2 (another AS) for a while, as a route changes."""
        self.run("r3a", ["ip", "route", "replace", f"{TARGET}/32", "via", R3A_NEXT["r2"]])
        try:
            yield
        finally:
            self.run("r3a", ["ip", "route", "replace", f"{TARGET}/32", "via", R3A_NEXT["r3b"]])

    def stop_node(self, name: str) -> None:
        process = self.nodes.pop(name, None)
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(10)


def _wait_for(log: Path, pattern: re.Pattern[str], process: subprocess.Popen[bytes], start: int = 0,
              timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"it exited: {log.read_text()}")
        if log.exists() and pattern.search(log.read_text()[start:]):
            return
        time.sleep(0.02)
    raise RuntimeError(f"it did not start: {log.read_text()}")


@contextmanager
def vantage_lab(work: Path, suffix: str | None = None) -> Iterator[VantageLab]:
    why = missing_requirements()
    if why is not None:
        raise LabUnavailable(why)
    lab = VantageLab(suffix or str(os.getpid()), work)
    with ExitStack() as cleanup:
        cleanup.callback(_remove, lab)
        _build(lab)
        cleanup.callback(_stop_nodes, lab)
        yield lab


def _stop_nodes(lab: VantageLab) -> None:
    for name in list(lab.nodes):
        lab.stop_node(name)


def _remove(lab: VantageLab) -> None:
    for host in HOSTS:
        subprocess.run(["ip", "netns", "del", lab.ns(host)], capture_output=True)
    shutil.rmtree(Path("/etc/netns") / lab.ns("front"), ignore_errors=True)


def _build(lab: VantageLab) -> None:
    for host in HOSTS:
        subprocess.run(["ip", "netns", "add", lab.ns(host)], check=True, capture_output=True)
        lab.run(host, ["ip", "link", "set", "lo", "up"])
    for number, (left, left_addr, right, right_addr) in enumerate(LINKS):
        left_if, right_if = f"v{number}-{left}", f"v{number}-{right}"
        subprocess.run(["ip", "link", "add", left_if, "netns", lab.ns(left), "type", "veth", "peer", "name",
                        right_if, "netns", lab.ns(right)], check=True, capture_output=True)
        for host, address, ifname in ((left, left_addr, left_if), (right, right_addr, right_if)):
            lab.run(host, ["ip", "addr", "add", f"{address}/28", "dev", ifname])
            lab.run(host, ["ip", "link", "set", ifname, "up"])
    lab.run("target", ["ip", "addr", "add", f"{TARGET}/32", "dev", "lo"])
    for host in ROUTERS:
        lab.run(host, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    for host in HOSTS:
        lab.run(host, ["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"])
    for host, routes in ROUTES.items():
        for network, via in routes:
            lab.run(host, ["ip", "route", "add", network, "via", via])
    lab.run("r3a", ["nft", "-f", "-"], input=LOSSY)
    write_asn_db(lab.work / "asn.mmdb", NETWORKS)
    # The front's resolver points at its own loopback: no lookup leaves the lab.
    etc = Path("/etc/netns") / lab.ns("front")
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
