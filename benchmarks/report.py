"""Turn a results file into the Markdown table of benchmarks/README.md.

``python -m benchmarks.report benchmarks/results/latest.json``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .stats import ms


def ratio(a: float | None, b: float | None) -> str:
    return "–" if not a or not b else f"{a / b:.2f}×"


def _added(added: float, same_moments: float | None) -> str:
    """What a process in between adds at p99, and the same with the lines weighted to the
    moments the yardstick's were printed (absent from results taken before it was)."""
    text = f"{added * 1000:+.2f} ms"
    return text if same_moments is None else f"{text} ({same_moments * 1000:+.2f} at the same moments)"


def completed_row(crowd: str, s: dict[str, Any]) -> tuple[str, str, str, str, str, str]:
    done = s["completed"] == s["n"]
    return (f"{crowd}: streams completed", f"{s['completed']}/{s['n']}", "–", "–", "all", "met" if done else "missed")


def cpu_row(name: str, s: dict[str, Any], most: float) -> tuple[str, str, str, str, str, str]:
    """Server CPU per line against the floor's; over several rounds, judged on the median
    of each round's ratio (the figures shown are the round chosen for its latency)."""
    per, floor = s["cpu_per_line"], s["floor_cpu_per_line"]
    rounds = s.get("cpu_ratio_rounds")
    judged = s["cpu_ratio_median"] if rounds else per / floor
    shown = (f"{judged:.2f}× (median of {', '.join(f'{x:.2f}' for x in rounds)})" if rounds
             else ratio(per, floor))
    return (f"server CPU per streamed line ({name})", f"{per * 1e6:.0f} µs", f"{floor * 1e6:.0f} µs", shown,
            f"at most {most:g}×", "met" if judged <= most else "missed")


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    out = []
    for name in ("ping-500-over-10s", "ping-500-over-10s-text"):
        if s := r.get(name):
            diff = s["p99_latency"] - s["floor_p99_latency"]
            route = "SSE" if s["sse"] else "text"
            out.append((f"500 visitors over 10 s ({route}): p99 line latency", ms(s["p99_latency"]),
                        ms(s["floor_p99_latency"]), f"{diff * 1000:+.2f} ms", "within 1 ms of the floor",
                        "met" if diff <= 0.001 else "missed"))
    if s := r.get("ping-1000"):
        out.append(completed_row("1000 at once", s))
        out.append(("1000 at once: p99 line latency", ms(s["p99_latency"]), ms(s["floor_p99_latency"]),
                    ratio(s["p99_latency"], s["floor_p99_latency"]), "under 50 ms",
                    "met" if s["p99_latency"] < 0.05 else "missed"))
        bare = s.get("floor_p99_ttfb")
        out.append(("1000 at once: p99 time to response headers", ms(s["p99_ttfb"]),
                    f"{ms(bare)} (bare aiohttp)" if bare else "–", ratio(s["p99_ttfb"], bare), "under 100 ms",
                    "met" if s["p99_ttfb"] < 0.1 else "missed"))
        out.append(("1000 at once: p99 first tool line", ms(s["p99_first_line"]), ms(s["floor_p99_first_line"]),
                    ratio(s["p99_first_line"], s["floor_p99_first_line"]), "no later than the floor",
                    "met" if s["p99_first_line"] <= s["floor_p99_first_line"] else "missed"))
        if "client_cpu_s" in s:  # what the visitors took of the cores the server shares with them
            out.append(("1000 at once: the load generator's CPU", f"{s['client_cpu_s']:.2f} s",
                        f"{s['server_cpu_s']:.2f} s (the server's)", ratio(s["client_cpu_s"], s["server_cpu_s"]),
                        "–", "–"))
    if s := r.get("ping-2000"):
        out.append(completed_row("2000 at once", s))
        out.append(("2000 at once: server PSS (peak)", f"{s['peak_pss'] / 2**20:.0f} MB", "–", "–", "under 100 MB",
                    "met" if s["peak_pss"] < 100 * 2**20 else "missed"))
    for name in ("ping-100-long", "ping-100", "ping-500-over-10s", "ping-500-over-10s-results", "ping-1000",
                 "ping-2000"):
        if s := r.get(name):
            out.append(cpu_row(name, s, 2.2 if name.endswith("-results") else 2.0))
    if (off := r.get("ping-500-over-10s")) and (on := r.get("ping-500-over-10s-names")):
        out.append(("500 over 10 s, names and databases on: p99 line latency", ms(on["p99_latency"]),
                    f"{ms(off['p99_latency'])} (off)", f"{(on['p99_latency'] - off['p99_latency']) * 1000:+.2f} ms",
                    "within the noise", "–"))
    if (off := r.get("mtr-200")) and (on := r.get("mtr-200-names")):
        out.append(("200 mtr at once, 10 cycles: server CPU per line, names and databases on",
                    f"{on['cpu_per_line'] * 1e6:.0f} µs", f"{off['cpu_per_line'] * 1e6:.0f} µs (off)",
                    ratio(on["cpu_per_line"], off["cpu_per_line"]), "within the noise", "–"))
    if (off := r.get("ping-500-over-10s")) and (on := r.get("ping-500-over-10s-results")):
        diff = on["p99_latency"] - off["p99_latency"]
        out.append(("500 over 10 s, results in SQLite: p99 line latency", ms(on["p99_latency"]),
                    f"{ms(off['p99_latency'])} (off)", f"{diff * 1000:+.2f} ms", "within +1 ms",
                    "met" if diff <= 0.001 else "missed"))
        per, base = on["cpu_per_line"], off["cpu_per_line"]
        out.append(("500 over 10 s, results in SQLite: server CPU per line", f"{per * 1e6:.0f} µs",
                    f"{base * 1e6:.0f} µs (off)", ratio(per, base), "within +15 %",
                    "met" if per <= 1.15 * base else "missed"))
        out.append(("results in SQLite: per run, transactions · disk bytes · file bytes",
                    f"{on['store_batches_per_run']:.1f} · {on['store_disk_bytes_per_run'] / 1024:.1f} KiB · "
                    f"{on['store_file_bytes_per_run'] / 1024:.1f} KiB", "–", "–", "reported", "–"))
    if s := r.get("store-flush-1000"):
        out.append((f"SQLite store, {s['runs']} runs at once into a file of {s['earlier']} results: per run, "
                    "the store thread's CPU · bytes written", f"{s['cpu_per_run'] * 1e6:.0f} µs · "
                    f"{s['written_bytes_per_run'] / 1024:.1f} KiB", "–", "–", "reported", "–"))
    if s := r.get("followers-1000"):
        out.append(("1000 followers of one mtr: every event to every follower",
                    f"{s['complete']} of {s['n']}", "–", "–", "all", "met" if s["complete"] == s["n"] else "missed"))
        out.append(("1000 followers of one mtr: p99 event lag behind the run's visitor", ms(s["p99_lag"]), "–", "–",
                    "under 50 ms", "met" if s["p99_lag"] is not None and s["p99_lag"] < 0.05 else "missed"))
    if s := r.get("nodes-200"):
        added = s["added_p99"]  # pooled over its rounds, as the scenario reports it
        visitors = s["n"] * s.get("rounds", 1)  # every round brings the whole crowd again
        out.append((f"{s['n']} visitors from 2 nodes through a front: streams completed, both parts each",
                    f"{s['completed']} of {visitors}", "–", "–", "all",
                    "met" if s["completed"] == visitors and not s["failures"] else "missed"))
        out.append(("through the front: p99 line latency", ms(s["p99_latency"]),
                    f"{ms(s['direct_p99_latency'])} (direct, paired)", _added(added, s.get("added_p99_same_moments")),
                    "at most +5 ms",
                    "met" if added <= 0.005 else "missed"))
        nginx = s["nginx_added_p99"]
        out.append(("through nginx in the front's place: p99 line latency", ms(s["nginx_p99_latency"]),
                    f"{ms(s['direct_p99_latency'])} (direct, paired)",
                    _added(nginx, s.get("nginx_added_p99_same_moments")), "reported", "–"))
        out.append(("front CPU per relayed line (beside the nodes' own per line)",
                    f"{s['front_cpu_per_line'] * 1e6:.0f} µs", f"{s['node_cpu_per_line'] * 1e6:.0f} µs (nodes)",
                    ratio(s["front_cpu_per_line"], s["node_cpu_per_line"]), "reported", "–"))
        out.append(("front PSS (peak), beside a node's", f"{s['front_peak_pss'] / 2**20:.0f} MB",
                    f"{s['node_peak_pss'] / 2**20:.0f} MB (node)", "–", "reported", "–"))
    if s := r.get("node-parts-2000"):
        setup = s["cpu_per_part_setup"]
        out.append(("a front's part on a node, alone: CPU to set it up (start and end only)", f"{setup * 1e6:.0f} µs",
                    "–", "–", "under 400 µs", "met" if setup < 0.0004 else "missed"))
        out.append(("a front's part on a node, alone: CPU per line relayed",
                    f"{s['cpu_per_relayed_line'] * 1e6:.0f} µs", "–", "–", "reported", "–"))
    if s := r.get("budget-hits"):
        for clients in (1, 100, 1000):
            if f"webtrace_{clients}" in s:
                others = f"{clients} other client{'s' if clients != 1 else ''}"
                out.append((f"a run's hit on the in-memory budget, beside {others}",
                            f"{s[f'webtrace_{clients}'] * 1e6:.0f} µs",
                            f"{s[f'limits_{clients}'] * 1e6:.0f} µs (limits' own storage)",
                            ratio(s[f"webtrace_{clients}"], s[f"limits_{clients}"]), "reported", "–"))
    if s := r.get("refused-429"):
        out.append(("429 path: requests per second", f"{s['webtrace_rps']:.0f}", f"{s['bare_rps']:.0f} (bare aiohttp)",
                    f"{s['ratio'] * 100:.0f} %", "at least 70 %", "met" if s["ratio"] >= 0.7 else "missed"))
    if s := r.get("disconnect-storm-500"):
        out.append(("500 visitors leave mid-mtr: every tool gone and reaped", f"{s['gone_after_s']:.2f} s", "–", "–",
                    "within 1 s", "met" if s["gone_after_s"] <= 1 and not s["left_over"] else "missed"))
    if s := r.get("continuous-ping-100-60s"):
        per, ordinary = s["cpu_per_line"], s["ordinary_cpu_per_line"]
        out.append(("100 continuous pings for 60 s: server CPU per line", f"{per * 1e6:.0f} µs",
                    f"{ordinary * 1e6:.0f} µs (ordinary)", ratio(per, ordinary), "within 10 % of ordinary",
                    "met" if s["ratio"] is not None and s["ratio"] <= 1.1 else "missed"))
    if s := r.get("continuous-followers-200"):
        out.append(("200 followers of a continuous mtr: p99 lag", ms(s["p99_lag"]), "–", "–", "under 50 ms",
                    "met" if s["p99_lag"] is not None and s["p99_lag"] < 0.05 else "missed"))
    if s := r.get("continuous-memory-600s"):
        growth = s["growth"]
        out.append(("20 continuous mtr for 600 s: server PSS, last fifth against first",
                    f"{s['pss_last_fifth'] / 2**20:.1f} MB", f"{s['pss_first_fifth'] / 2**20:.1f} MB",
                    f"{growth * 100:+.1f} %" if growth is not None else "–", "flat (within 5 %)",
                    "met" if growth is not None and growth <= 0.05 else "missed"))
    if s := r.get("mtr-first-hop"):
        out.append(("mtr: time to the first hop row (p50)", ms(s["p50"]), ms(s["floor_p50"]),
                    ratio(s["p50"], s["floor_p50"]), "–", "–"))
    return out


def table(results: dict[str, Any]) -> str:
    lines = ["| scenario | webtrace | floor | ratio | target | |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines)


if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1]).read_text())
    print(f"Machine: {data['machine']}\n")
    print(table(data))
