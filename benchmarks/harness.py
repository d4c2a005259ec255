"""The benchmarks' harness: webtrace (and nginx) started for a scenario, its CPU,
memory and disk read from /proc, and the scenarios run one after another."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import psutil

from .stamped import make_wrappers, path_with


HERE = Path(__file__).parent


RESULTS = HERE / "results"


TOOLS = {"ping", "traceroute", "mtr", "mtr-packet"}


PING_COUNT = 5


PING_INTERVAL = 0.2


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    sock: Path
    base: str = "http://webtrace"
    _helper: psutil.Process | None = field(default=None, repr=False, compare=False)

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.process.pid)

    def own(self) -> list[psutil.Process]:
        """The server's processes: itself and its spawn helper, not the tools. The helper
        is looked for among the server's children until found, then kept while it runs:
        looking goes through every child, a crowd's thousand tools among them."""
        helper = self._helper
        if helper is None or not helper.is_running():
            helper = self._helper = self._find_helper()
        return [self.ps] if helper is None else [self.ps, helper]

    def _find_helper(self) -> psutil.Process | None:
        for child in self.ps.children():
            try:
                if any("spawn_helper" in a for a in child.cmdline()):
                    return child
            except psutil.NoSuchProcess:
                pass  # a tool that just ended
        return None

    def cpu(self) -> float:
        """The server's own CPU seconds (spawn helper included), without the tools'."""
        return sum(cpu_seconds(p) for p in self.own())

    def pss(self) -> int:
        return sum(int(p.memory_full_info().pss) for p in self.own())

    def tools(self) -> list[tuple[str, psutil.Process]]:
        """The running tools, each with its name (read now: a tool that has exited has none)."""
        found = []
        for child in self.ps.children(recursive=True):
            try:
                name = child.name()
                if name in TOOLS and child.status() != psutil.STATUS_ZOMBIE:
                    found.append((name, child))
            except psutil.NoSuchProcess:
                pass
        return found


def cpu_seconds(proc: psutil.Process) -> float:
    """CPU time to the nanosecond where Linux gives it per thread (schedstat).

    psutil reads /proc/<pid>/stat, which counts in 10 ms ticks: a smoke run's
    whole server cost is a few milliseconds and would read as 0 or 10 ms. A
    thread that ended drops out of schedstat, which is fine here: the server's
    only other thread is its executor worker, which lives as long as it does.
    """
    try:
        return sum(int((task / "schedstat").read_text().split()[0])
                   for task in Path(f"/proc/{proc.pid}/task").iterdir()) / 1e9
    except (OSError, ValueError, IndexError):
        t = proc.cpu_times()
        return t.user + t.system


def webtrace(work: Path, **settings: str) -> contextlib.AbstractAsyncContextManager[Server]:
    """A webtrace on a unix socket."""
    return _serve(work, False, settings)


def webtrace_under(work: Path, program: Sequence[str], patience_s: float,
                   **settings: str) -> contextlib.AbstractAsyncContextManager[Server]:
    """A webtrace on a unix socket, its interpreter run by ``program`` (valgrind, say),
    given ``patience_s`` to start and as long to stop."""
    return _serve(work, False, settings, program, patience_s)


def webtrace_tcp(work: Path, **settings: str) -> contextlib.AbstractAsyncContextManager[Server]:
    """A webtrace on 127.0.0.1, with a port of its own: the nodes a front runs from are asked over TCP."""
    return _serve(work, True, settings)


@asynccontextmanager
async def _serve(work: Path, tcp: bool, settings: dict[str, str], program: Sequence[str] = (),
                 patience_s: float = 20.0) -> AsyncIterator[Server]:
    sock = work / f"webtrace-{time.monotonic_ns()}.sock"
    env = {
        **os.environ,
        "PATH": path_with(make_wrappers(work / "bin")),
        "WEBTRACE_ALLOW_NETWORKS": "127.0.0.0/8",
        "WEBTRACE_PINGCOUNT": str(PING_COUNT),
        "WEBTRACE_PINGINTERVAL": str(PING_INTERVAL),
        "WEBTRACE_MAX_JOBS": "2500",
        "WEBTRACE_MAX_JOBS_PER_CLIENT": "2500",
        "WEBTRACE_RATELIMIT": "1000000/minute",
        "WEBTRACE_RESULTS_RATELIMIT": "1000000/minute",
        "WEBTRACE_RESULTS": "off",  # a scenario that measures results turns them on
        "XDG_STATE_HOME": str(work / "state"),
        **{f"WEBTRACE_{k.upper()}": v for k, v in settings.items()},
    }
    log_path = work / (f"server-{sock.stem}.log" if tcp else "server.log")
    log = open(log_path, "ab")
    listen = ["--host", "127.0.0.1", "--port", "0"] if tcp else ["--unix-socket", str(sock)]
    process = subprocess.Popen([*program, sys.executable, "-m", "webtrace", *listen],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    profiler: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + patience_s
        base = "http://webtrace"
        while True:
            if tcp and (found := re.search(r"Running on (http://127\.0\.0\.1:\d+)", log_path.read_text())):
                base = found.group(1)
                break
            if not tcp and accepts(sock):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"webtrace did not start; see {log_path}")
            await asyncio.sleep(0.02)
        # Profiled: the server the visitors ask (a front's nodes, on TCP, are not).
        profiler = None if tcp else _profiler(process.pid)
        yield Server(process, sock, base)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(max(15.0, patience_s))
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        if profiler is not None:
            profiler.wait(30)  # it writes its stacks as the server exits


def accepts(sock: Path) -> bool:
    """Whether a server listens on the unix socket ``sock``: the file is there from its
    bind, a moment before it listens (a long one under valgrind), and a client that came
    in between would be refused."""
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(sock))
        except OSError:
            return False
    return True


# Set by ``make profile`` (benchmarks/profile.py): every server a scenario starts is
# sampled by py-spy, native frames too, its stacks written to this file.
PROFILE_TO = "WEBTRACE_BENCH_PROFILE"


def _profiler(pid: int) -> subprocess.Popen[bytes] | None:
    out = os.environ.get(PROFILE_TO)
    if not out:
        return None
    # One file per server: a scenario of several rounds starts one each round.
    return subprocess.Popen(["py-spy", "record", "--native", "--pid", str(pid), "--rate", "250", "--format", "raw",
                             "--output", f"{out}.{pid}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})


@asynccontextmanager
async def nginx_relay(work: Path, upstreams: dict[str, str]) -> AsyncIterator[str]:
    """nginx on 127.0.0.1, passing ``/NAME/...`` on to ``upstreams[NAME]/...`` unbuffered,
    as the README's server block does for a webtrace: a process in between written in C,
    one worker, as the front is one process. Its base URL."""
    binary = shutil.which("nginx")
    if binary is None:
        raise RuntimeError("nginx is not installed (make bench installs nginx-light)")
    from tests.helpers import free_port  # a test and bench helper, as tests.ipdbs is

    home = work / f"nginx-{time.monotonic_ns()}"
    home.mkdir()
    port = free_port()
    locations = "".join(f"""
        location /{name}/ {{
            proxy_pass {base}/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}""" for name, base in upstreams.items())
    temps = "".join(f"    {kind}_temp_path {home / kind};\n"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (home / "nginx.conf").write_text(f"""{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
error_log {home / "error.log"} warn;
pid {home / "nginx.pid"};
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temps}    server {{
        listen 127.0.0.1:{port} backlog=4096;{locations}
    }}
}}
""")
    process = subprocess.Popen([binary, "-p", str(home), "-c", str(home / "nginx.conf")], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start: {(home / 'error.log').read_text()}") from None
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def exists(proc: psutil.Process) -> bool:
    """Running, or dead but not yet reaped (a zombie): either way, not gone."""
    try:
        proc.status()
        return True
    except psutil.NoSuchProcess:
        return False


def directory_settings(work: Path, on: bool) -> dict[str, str]:
    """Hop names and both databases on (small test databases for 127.0.0.0/8), or all off."""
    if not on:
        return {"names": "off"}
    from tests.ipdbs import write_asn_db, write_geo_db  # mmdb-writer: a test and bench extra

    return {"names": "on", "asn_db": str(write_asn_db(work / "asn.mmdb")),
            "geo_db": str(write_geo_db(work / "geo.mmdb"))}


def store_figures(work: Path, metrics: str, io_before: int, io_after: int) -> dict[str, float]:
    """What the results store wrote: batches (one per result per flush, many in one
    transaction), the server's bytes written to the disk (/proc/PID/io; 0 on tmpfs), and
    the file's size once its write-ahead log is checkpointed into it."""
    found = re.search(r"^webtrace_results_written_total ([\d.e+]+)$", metrics, re.MULTILINE)
    path = work / "store" / "results.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"store_batches": float(found.group(1)) if found else 0.0,
            "store_disk_bytes": float(io_after - io_before), "store_file_bytes": float(path.stat().st_size)}


def disk_writes(proc: psutil.Process) -> int:
    return int(proc.io_counters().write_bytes)


class PssSampler:
    """Servers' PSS read every ``every`` seconds by a thread of its own (``take`` is given
    each reading): read on the load generator's loop, /proc's memory maps would hold up
    the streams it times."""

    def __init__(self, servers: dict[str, Server], every: float) -> None:
        self.servers = servers
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def take(self, name: str, at: float, pss: int) -> None:
        raise NotImplementedError

    def _sample(self) -> None:
        begun = time.monotonic()
        while not self._stop.wait(self.every):
            for name, server in self.servers.items():
                with contextlib.suppress(psutil.Error):
                    self.take(name, time.monotonic() - begun, server.pss())

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class PeakPss(PssSampler):
    """The peak PSS of some servers, sampled every 250 ms."""

    def __init__(self, servers: dict[str, Server]) -> None:
        super().__init__(servers, 0.25)
        self.peak = {name: server.pss() for name, server in servers.items()}

    def take(self, name: str, at: float, pss: int) -> None:
        self.peak[name] = max(self.peak[name], pss)


def raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def run(names: list[str], scenarios: dict[str, Callable[[Path], Any]]) -> dict[str, Any]:
    raise_open_files()
    results: dict[str, Any] = {"machine": machine()}
    for name in names:
        with tempfile.TemporaryDirectory(prefix="webtrace-bench-") as work:
            started = time.monotonic()
            results[name] = await scenarios[name](Path(work))
            results[name]["took_s"] = round(time.monotonic() - started, 1)
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    return results


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {sys.version.split()[0]}"
