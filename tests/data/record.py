"""Re-record the parser fixtures from the real tools: ``sudo python -m tests.data.record``.

Loopback runs need nothing; lab runs build the network lab (root).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.netlab import lab as netlab

HERE = Path(__file__).parent

LOOPBACK = {
    "ping_v4_loopback.txt": ["ping", "-n", "-O", "-c", "4", "-i", "0.2", "-4", "127.0.0.1"],
    "ping_v6_loopback.txt": ["ping", "-n", "-O", "-c", "4", "-i", "0.2", "-6", "::1"],
    "traceroute_v4_loopback.txt": ["traceroute", "-4", "-q", "3", "127.0.0.1"],
    "traceroute_v6_loopback.txt": ["traceroute", "-6", "-q", "3", "::1"],
    "mtr_v4_loopback.raw": ["mtr", "--raw", "-c", "3", "-i", "0.2", "-4", "127.0.0.1"],
    "mtr_v6_loopback.raw": ["mtr", "--raw", "-c", "3", "-i", "0.2", "-6", "::1"],
    "tracepath_v4_loopback.txt": ["tracepath", "-n", "-4", "-m", "30", "127.0.0.1"],
    "tracepath_v6_loopback.txt": ["tracepath", "-n", "-6", "-m", "30", "::1"],
}
LAB = {
    "ping_v4_lossy.txt": ["ping", "-n", "-O", "-c", "10", "-i", "0.2", "-4", netlab.TARGET_V4],
    "ping_v4_unreachable.txt": ["ping", "-n", "-O", "-c", "3", "-i", "0.5", "-4", netlab.UNREACHABLE_V4],
    "traceroute_v4_lab.txt": ["traceroute", "-4", "-q", "3", netlab.TARGET_V4],
    "traceroute_v6_lab.txt": ["traceroute", "-6", "-q", "3", netlab.TARGET_V6],
    "traceroute_v4_unreachable.txt": ["traceroute", "-4", "-q", "3", "-m", "6", netlab.UNREACHABLE_V4],
    "mtr_v4_lab.raw": ["mtr", "--raw", "-c", "10", "-i", "0.2", "-4", netlab.TARGET_V4],
    "mtr_v6_lab.raw": ["mtr", "--raw", "-c", "10", "-i", "0.2", "-6", netlab.TARGET_V6],
    "mtr_v4_unreachable.raw": ["mtr", "--raw", "-c", "3", "-i", "0.5", "-m", "6", "-4", netlab.UNREACHABLE_V4],
    # The path MTU drops to LINK_B_MTU at hop 2 (r1 says so: its time-exceeded are silenced, not its "too big").
    "tracepath_v4_lab.txt": ["tracepath", "-n", "-4", "-m", "30", netlab.TARGET_V4],
    "tracepath_v6_lab.txt": ["tracepath", "-n", "-6", "-m", "30", netlab.TARGET_V6],
}


def record(name: str, argv: list[str]) -> None:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout
    (HERE / name).write_text(out)
    print(f"{name}: {len(out.splitlines())} lines")


def main() -> None:
    for name, argv in LOOPBACK.items():
        record(name, argv)
    with netlab.network_lab() as lab:
        for name, argv in LAB.items():
            record(name, lab.exec_argv("host", argv))


if __name__ == "__main__":
    main()
