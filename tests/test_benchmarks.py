"""A smoke run of the benchmark harness, so that it cannot rot. Timing targets live in
benchmarks/README.md, measured by ``make bench``, not here."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_every_scenario_runs_at_a_small_size(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    results = json.loads(out.read_text())
    for name in ("ping-10", "ping-10-text"):
        ping = results[name]
        assert ping["completed"] == 10 and ping["failed"] == 0
        assert ping["lines"] == 50 and ping["p99_latency"] is not None and ping["floor_p99_latency"] is not None
        assert ping["cpu_per_line"] > 0 and ping["peak_pss"] > 0
    assert results["ping-10-text"]["floor_p99_ttfb"] > 0  # the bare server's headers
    assert results["refused-429"]["webtrace_rps"] > 0 and results["refused-429"]["bare_rps"] > 0
    storm = results["disconnect-storm-5"]
    assert storm["mtr_running"] >= 5 and storm["left_over"] == 0 and storm["gone_after_s"] < 30
    assert results["mtr-first-hop"]["p50"] is not None
    mtr = results["mtr-5-names"]
    assert mtr["completed"] == 5 and not mtr["failures"] and mtr["lines"] > 0 and mtr["cpu_per_line"] > 0
    assert mtr["named"] > 0  # the rows carried names: the scenario measures what it says
    fanned = results["nodes-5"]
    assert fanned["completed"] == 5 and fanned["direct_completed"] == 4 and not fanned["failures"]
    assert fanned["added_p99"] is not None and len(fanned["added_p99_by_round"]) == 1
    assert fanned["lines"] == 50 and fanned["direct_lines"] == 20
    assert fanned["nginx_completed"] == 4 and fanned["nginx_lines"] == 20 and fanned["nginx_added_p99"] is not None
    assert fanned["front_cpu_per_line"] > 0 and fanned["node_cpu_per_line"] > 0
