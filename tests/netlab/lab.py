"""A small internet in network namespaces: the webtrace host, two routers, a target.

    host ── r1 ══ r2 ── target
     A        B       C

Link A 192.0.2.0/24 and 2001:db8:a::/64, link B 198.51.100.0/24 and
2001:db8:b::/64, link C 203.0.113.0/24 and 2001:db8:c::/64: documentation
ranges, used only inside these namespaces. r1 never sends ICMP time-exceeded
(the silent hop); r2 drops about half of the echo requests it forwards to the
target (the lossy link, seen by ping and mtr; traceroute probes with UDP, so
its view of the path is the same every run); ``UNREACHABLE`` sits on link C but no host answers for it.
Link B carries at most ``LINK_B_MTU`` bytes a packet (a tunnel's, say): r1 says
"too big" to larger ones, which tracepath reports as the path MTU dropping.
The target listens on TCP port ``OPEN_PORT`` (both families); ``CLOSED_PORT``
answers with a reset, as a closed port does.

The host's own resolver (/etc/netns/NS/resolv.conf) points at its loopback,
where nothing answers unless a test starts a DNS server there: names come from
its hosts file, and no lookup leaves the lab.

Every namespace carries a per-run suffix and is removed on exit, also when the
body fails. Needs root (``ip netns``, nftables).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HOSTS = ("host", "r1", "r2", "target")

# (name, v4 address, v6 address) per interface, per link.
LINKS = {
    "a": (("host", "192.0.2.10", "2001:db8:a::10"), ("r1", "192.0.2.1", "2001:db8:a::1")),
    "b": (("r1", "198.51.100.1", "2001:db8:b::1"), ("r2", "198.51.100.2", "2001:db8:b::2")),
    "c": (("r2", "203.0.113.1", "2001:db8:c::1"), ("target", "203.0.113.10", "2001:db8:c::10")),
}
ROUTES = {
    "host": (("default", "192.0.2.1"), ("default", "2001:db8:a::1")),
    "r1": (("203.0.113.0/24", "198.51.100.2"), ("2001:db8:c::/64", "2001:db8:b::2")),
    "r2": (("192.0.2.0/24", "198.51.100.1"), ("2001:db8:a::/64", "2001:db8:b::1")),
    "target": (("default", "203.0.113.1"), ("default", "2001:db8:c::1")),
}
TARGET_V4, TARGET_V6 = "203.0.113.10", "2001:db8:c::10"
R1_V4, R1_V6 = "192.0.2.1", "2001:db8:a::1"
R2_V4, R2_V6 = "198.51.100.2", "2001:db8:b::2"
UNREACHABLE_V4 = "203.0.113.99"
LINK_MTU = {"b": 1400}  # the others keep a veth's 1500
LINK_B_MTU = LINK_MTU["b"]
LOSS_PERCENT = 50
OPEN_PORT, CLOSED_PORT = 8443, 8444
# Names for the host's reverse lookups (ip netns exec bind-mounts /etc/netns/NS/hosts).
HOST_NAMES = {
    R1_V4: "r1.lab.test", R1_V6: "r1.lab.test",
    R2_V4: "r2.lab.test", R2_V6: "r2.lab.test",
    TARGET_V4: "target.lab.test", TARGET_V6: "target.lab.test",
}

R1_RULES = """
table inet silent {
    chain silence {
        type filter hook output priority 0; policy accept;
        icmp type time-exceeded drop
        icmpv6 type time-exceeded drop
    }
}
"""
R2_RULES = f"""
table inet lossy {{
    chain lossy_forward {{
        type filter hook forward priority 0; policy accept;
        ip daddr {TARGET_V4} icmp type echo-request numgen random mod 100 < {LOSS_PERCENT} drop
        ip6 daddr {TARGET_V6} icmpv6 type echo-request numgen random mod 100 < {LOSS_PERCENT} drop
    }}
}}
"""


class LabUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Lab:
    suffix: str

    def ns(self, host: str) -> str:
        return f"wt{self.suffix}-{host}"

    def exec_argv(self, host: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def run(self, host: str, argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return _run(self.exec_argv(host, argv), **kwargs)

    def forget_path_mtus(self) -> None:
        """The host's kernel keeps a path MTU it learnt for ten minutes, and tracepath
        then begins there and no hop reports the drop: a test that wants the drop
        seen starts from a host that knows none."""
        for family in ("-4", "-6"):
            self.run("host", ["ip", family, "route", "flush", "cache"])


def _run(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


def missing_requirements() -> str | None:
    """Why a lab cannot be built here, or None."""
    if os.geteuid() != 0:
        return "building network namespaces needs root"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@contextmanager
def network_lab(suffix: str | None = None) -> Iterator[Lab]:
    why = missing_requirements()
    if why is not None:
        raise LabUnavailable(why)
    lab = Lab(suffix or str(os.getpid()))
    hosts_dir = Path("/etc/netns") / lab.ns("host")
    listener: subprocess.Popen[str] | None = None
    try:
        _build(lab, hosts_dir)
        listener = _listen(lab)
        yield lab
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
            assert listener.stdout is not None
            listener.stdout.close()
        for host in HOSTS:
            subprocess.run(["ip", "netns", "del", lab.ns(host)], capture_output=True)
        shutil.rmtree(hosts_dir, ignore_errors=True)


def _build(lab: Lab, hosts_dir: Path) -> None:
    for host in HOSTS:
        _run(["ip", "netns", "add", lab.ns(host)])
        lab.run(host, ["ip", "link", "set", "lo", "up"])
    for link, ends in LINKS.items():
        (left, *_), (right, *_) = ends
        left_if, right_if = f"{link}-{left}", f"{link}-{right}"
        _run(["ip", "link", "add", left_if, "netns", lab.ns(left), "type", "veth",
              "peer", "name", right_if, "netns", lab.ns(right)])
        for (host, v4, v6), ifname in zip(ends, (left_if, right_if), strict=True):
            lab.run(host, ["ip", "addr", "add", f"{v4}/24", "dev", ifname])
            lab.run(host, ["ip", "-6", "addr", "add", f"{v6}/64", "dev", ifname, "nodad"])
            if link in LINK_MTU:
                lab.run(host, ["ip", "link", "set", ifname, "mtu", str(LINK_MTU[link])])
            lab.run(host, ["ip", "link", "set", ifname, "up"])
    for host in ("r1", "r2"):
        for key in ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"):
            lab.run(host, ["sysctl", "-qw", key])
    # Every probe gets its answer, however many runs probe at once (the kernel
    # would answer about one unreachable port a second).
    for host in ("r1", "r2", "target"):
        for key in ("net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0"):
            lab.run(host, ["sysctl", "-qw", key])
    for host, ((net4, via4), (net6, via6)) in ROUTES.items():
        lab.run(host, ["ip", "route", "add", net4, "via", via4])
        lab.run(host, ["ip", "-6", "route", "add", net6, "via", via6])
    lab.run("r1", ["nft", "-f", "-"], input=R1_RULES)
    lab.run("r2", ["nft", "-f", "-"], input=R2_RULES)
    hosts_dir.mkdir(parents=True, exist_ok=True)
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost"]
    lines += [f"{address} {name}" for address, name in HOST_NAMES.items()]
    (hosts_dir / "hosts").write_text("\n".join(lines) + "\n")
    (hosts_dir / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")


_LISTENER = f"""
import socket, sys
server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
server.bind(("::", {OPEN_PORT}))
server.listen(64)
print("listening", flush=True)
while True:
    server.accept()[0].close()
"""


def _listen(lab: Lab) -> subprocess.Popen[str]:
    """The target's open TCP port, for TCP traces that end at a listening service."""
    listener = subprocess.Popen(lab.exec_argv("target", [sys.executable, "-c", _LISTENER]),
                                stdout=subprocess.PIPE, text=True)
    assert listener.stdout is not None
    if listener.stdout.readline().strip() != "listening":
        listener.kill()
        listener.wait()
        listener.stdout.close()
        raise LabUnavailable("the target's TCP listener did not start")
    return listener


if __name__ == "__main__":  # a quick look: python -m tests.netlab.lab
    with network_lab() as lab:
        for argv in (["traceroute", "-n", TARGET_V4], ["ping", "-c", "2", UNREACHABLE_V4]):
            result = subprocess.run(lab.exec_argv("host", argv), capture_output=True, text=True)
            print(result.stdout, result.stderr)
