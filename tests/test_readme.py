"""The README's examples do what it says they do, against a real server on loopback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import server_process

README = Path(__file__).parent.parent / "README.md"


@pytest.mark.slow
def test_the_python_example_reads_a_run_to_its_end(tmp_path: Path) -> None:
    [example] = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    with server_process(tmp_path, unix=False) as server:
        code = example.replace("http://127.0.0.1:8080", server.base).replace('"example.net"', '"127.0.0.1"')
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert " 1 127.0.0.1 0.0% loss" in lines
    assert lines[-1] == "ok mtr finished"


@pytest.mark.slow
def test_the_python_example_says_why_a_run_was_refused(tmp_path: Path) -> None:
    [example] = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    with server_process(tmp_path, unix=False) as server:
        code = example.replace("http://127.0.0.1:8080", server.base).replace('"example.net"', '"10.0.0.1"')
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("refused: 10.0.0.1 is a private address")
