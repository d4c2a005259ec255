"""``make profile`` / ``python -m benchmarks.profile``: where a crowd's CPU goes.

Runs the crowd scenarios with results on (the default store, SQLite), and a front
relaying a crowd's runs from two nodes, while py-spy samples the server the visitors
ask (not the nodes), native frames too (``py-spy record --native``, 250 Hz, idle
threads left out). For each scenario it writes, under ``benchmarks/results/``:

- ``profile-NAME.txt``: the collapsed stacks, as py-spy wrote them (speedscope.app
  and flamegraph.pl read this format);
- ``profile-NAME-top.txt``: the costs that matter, per request and per line: the
  functions the CPU was in (self), and webtrace's, aiohttp's and asyncio's functions
  with all they called (inclusive).

Needs root or ptrace rights over the server (py-spy reads its memory).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .harness import PROFILE_TO, RESULTS, raise_open_files
from .scenarios import nodes_fanout, ping_streams

SCENARIOS: dict[str, Callable[[Path], Any]] = {
    "ping-1000": lambda w: ping_streams(w, 1000, 0, results=True),
    "ping-500-over-10s": lambda w: ping_streams(w, 500, 10, results=True),
    # A front's CPU (its nodes are not profiled): 200 visitors at once, each from two nodes.
    "nodes-200": lambda w: nodes_fanout(w, 200, 50, rounds=5),
}
OURS = re.compile(r"\((webtrace|aiohttp|aiohttp_sse|asyncio|limits)/")
# Waits py-spy counts as busy in native mode (a thread blocked in a futex or epoll): the
# executor's worker waiting for work, the event loop waiting for the network.
IDLE = re.compile(r"_queue_SimpleQueue_get|^select \(selectors\.py|^epoll_pwait \(")
RATE_HZ = 250
# What the samples in socket writes are: perf and the threads' own CPU counters put far
# less there (benchmarks/README.md, "Fewer writes a stream, and where a short run's CPU
# really goes").
SOCKET_WRITES = ("Socket writes (write, writev, sendmsg) are mostly latency, not CPU: a write wakes "
                 "its reader, which on two cores often preempts the writer inside the call.")
TOP = 25


def read_stacks(lines: Iterable[str]) -> Counter[tuple[str, ...]]:
    """Collapsed stacks (``frame;frame;… COUNT``) as a count per stack, root first."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            frames = tuple(stack.split(";"))
            if not any(IDLE.search(frame) for frame in frames):
                stacks[frames] += int(count)
    return stacks


def summary(stacks: Counter[tuple[str, ...]], cpu_s: float, requests: int, lines: int) -> list[str]:
    """The top self and inclusive costs, each as a share of the samples and in µs of
    server CPU per request and per line."""
    total = sum(stacks.values()) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in stacks.items():
        own[stack[-1]] += count
        for frame in set(stack):
            if OURS.search(frame):
                inclusive[frame] += count

    def row(frame: str, count: int) -> str:
        share = count / total
        return (f"{100 * share:5.1f}%  {1e6 * share * cpu_s / max(requests, 1):8.1f} µs/request  "
                f"{1e6 * share * cpu_s / max(lines, 1):7.1f} µs/line  {frame}")

    out = [f"{total} busy samples ({total / RATE_HZ:.2f} s at {RATE_HZ} Hz, waits left out); server CPU {cpu_s:.2f} s "
           f"for {requests} requests and {lines} lines", "",
           SOCKET_WRITES, "",
           "Self (where the CPU was):"]
    out += [row(frame, count) for frame, count in own.most_common(TOP)]
    out += ["", "Inclusive (webtrace, aiohttp, asyncio, limits, with all they called):"]
    out += [row(frame, count) for frame, count in inclusive.most_common(TOP)]
    return out


async def profile(names: list[str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
        raise SystemExit("py-spy is not installed: make profile installs it (setup.cfg's bench extra)")
    raise_open_files()
    for name in names:
        stacks_file = out / f"profile-{name}.txt"
        stacks_file.unlink(missing_ok=True)
        work = out / f"profile-{name}-work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        os.environ[PROFILE_TO] = str(stacks_file)
        try:
            found = await SCENARIOS[name](work)
        finally:
            os.environ.pop(PROFILE_TO, None)
            shutil.rmtree(work, ignore_errors=True)
        per_server = sorted(out.glob(f"{stacks_file.name}.*"))
        stacks_file.write_text("".join(part.read_text() for part in per_server))
        for part in per_server:
            part.unlink()
        lines = int(found["lines"])
        cpu_s = float(found.get("cpu_per_line", found.get("front_cpu_per_line", 0.0))) * lines
        stacks = read_stacks(stacks_file.read_text().splitlines())
        report = summary(stacks, cpu_s, int(found["completed"]), lines)
        (out / f"profile-{name}-top.txt").write_text("\n".join(report) + "\n")
        print(f"{name}: {stacks_file}\n" + "\n".join(report[:12]), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), help="scenarios to profile")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write (benchmarks/results)")
    args = parser.parse_args(argv)
    asyncio.run(profile(args.only or list(SCENARIOS), args.out))


if __name__ == "__main__":
    main()
