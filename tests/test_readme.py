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
@pytest.mark.parametrize(
    ("target", "says"),
    [("127.0.0.1", ["ok mtr finished"]),  # and the hop table on the way
     ("10.0.0.1", ["refused: 10.0.0.1 is a private address"])],  # refused: nothing runs, no packet
)
def test_the_python_example_reads_a_run_or_its_refusal(tmp_path: Path, target: str, says: list[str]) -> None:
    [example] = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    with server_process(tmp_path, unix=False) as server:
        code = example.replace("http://127.0.0.1:8080", server.base).replace('"example.net"', f'"{target}"')
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert lines[-1:] == says
    if target == "127.0.0.1":
        assert " 1 127.0.0.1 0.0% loss" in lines


def test_the_event_table_names_every_field_an_event_carries() -> None:
    from webtrace.events import EVENT_DATA

    intro, rest = README.read_text().split("### Events", 1)[1].split("\n\n|", 1)
    table = rest.split("\n\n", 1)[0]
    assert "`node`" in intro  # every event of a run from several nodes carries it, said once above the table
    rows = {line.split("|")[1].strip().strip("`"): line for line in table.splitlines() if line.startswith("| `")}
    assert set(rows) == set(EVENT_DATA)
    for kind, schema in EVENT_DATA.items():
        fields = set(schema.get("properties", {})) - {"node"}
        for field in fields:
            assert f"`{field}`" in rows[kind], (kind, field)
