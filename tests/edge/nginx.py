"""A real nginx in front of webtrace, configured with the server blocks from README.md."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import free_port

README = Path(__file__).parent.parent.parent / "README.md"
STATIC = Path(__file__).parent.parent.parent / "static"
README_SOCKET = "/run/webtrace/webtrace.sock"
README_STATIC = "/usr/local/share/webtrace/static/"


def readme_blocks() -> list[str]:
    """The ```nginx blocks of the README, in order: root site, sub-path, static files."""
    return re.findall(r"```nginx\n(.*?)```", README.read_text(), re.DOTALL)


@dataclass
class Nginx:
    root: str  # http://127.0.0.1:PORT, the site-root server block
    subpath: str  # http://127.0.0.1:PORT/webtrace/, the sub-path block


def configuration(tmp: Path, app_socket: Path, root_port: int, sub_port: int) -> str:
    site, subpath, static = readme_blocks()
    site = site.replace(README_SOCKET, str(app_socket))
    site = site.replace("    listen 80;\n", f"    listen 127.0.0.1:{root_port};\n")
    site = site.replace("    listen [::]:80;\n", "")
    # The static block belongs inside the site's server block.
    site = site.rstrip().removesuffix("}") + static.replace(README_STATIC, f"{STATIC}/") + "}\n"
    temp = "\n".join(
        f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
{user}
daemon off;
worker_processes 1;
error_log {tmp / 'error.log'} info;
pid {tmp / 'nginx.pid'};
events {{ worker_connections 256; }}
http {{
    access_log {tmp / 'access.log'};
    types {{ text/html html; text/css css; text/javascript js; image/svg+xml svg; }}
{temp}
{site}
    server {{
        listen 127.0.0.1:{sub_port};
{subpath}
    }}
}}
"""


@contextmanager
def nginx_in_front(tmp: Path, app_socket: Path) -> Iterator[Nginx]:
    binary = shutil.which("nginx")
    if binary is None:
        pytest.skip("nginx is not installed (make test installs nginx-light)")
    root_port, sub_port = free_port(), free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(configuration(tmp, app_socket, root_port, sub_port))
    check = subprocess.run([binary, "-t", "-p", str(tmp), "-c", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([binary, "-p", str(tmp), "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", sub_port), timeout=1).close()
                socket.create_connection(("127.0.0.1", root_port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp / "error.log").read_text()) from None
                time.sleep(0.02)
        yield Nginx(f"http://127.0.0.1:{root_port}", f"http://127.0.0.1:{sub_port}/webtrace/")
    finally:
        process.terminate()
        process.wait(10)
