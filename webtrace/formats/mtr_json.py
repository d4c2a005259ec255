"""A kept mtr run in the shape of ``mtr --json``'s report, for the programs that
read mtr's JSON: ``report.mtr`` with the run's parameters, ``report.hubs[]`` with
a hub per hop. A run from several places is a list of such reports, one a place,
each naming its place in ``report.mtr.src`` (where mtr names its host).

As mtr does: a hop is its first host (its name where known, else its address;
``???`` where nothing answered), times are milliseconds with 0 where none came
back, and the ``ASN`` column (``AS64500``, ``AS???`` where unknown) appears when
webtrace knows any hop's AS, as it appears with ``mtr -z``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from .folded import KeptRun, Part, parts, several

MTR_PACKET_SIZE = "64"  # mtr's own default, which webtrace does not change; mtr prints it as a string
_FIGURES = (("Last", "last_ms"), ("Avg", "avg_ms"), ("Best", "best_ms"), ("Wrst", "worst_ms"), ("StDev", "stdev_ms"))


def render(run: KeptRun) -> Iterator[bytes]:
    reports = [report(run, part) for part in parts(run)]
    if several(run):
        yield orjson.dumps(reports, option=orjson.OPT_INDENT_2)
    else:
        yield orjson.dumps(reports[0] if reports else report(run, None), option=orjson.OPT_INDENT_2)
    yield b"\n"


def report(run: KeptRun, part: Part | None) -> dict[str, Any]:
    start = part.start if part is not None else {}
    rows = part.table() if part is not None else []
    with_asn = any(host.get("asn") for row in rows for host in row["hosts"])
    return {"report": {
        "mtr": {
            "src": part.node if part is not None else str(run.meta.get("node") or ""),
            "dst": str(start.get("target") or run.meta.get("target") or ""),
            "tos": 0,
            "tests": int(start.get("count") or run.meta.get("count") or 0),
            "psize": MTR_PACKET_SIZE,
            "bitpattern": "0x00",
        },
        "hubs": [_hub(row, with_asn) for row in rows],
    }}


def _hub(row: dict[str, Any], with_asn: bool) -> dict[str, Any]:
    first = row["hosts"][0] if row["hosts"] else None
    hub: dict[str, Any] = {"count": row["hop"], "host": (first.get("name") or first["address"]) if first else "???"}
    if with_asn:
        hub["ASN"] = f"AS{first['asn']}" if first and first.get("asn") else "AS???"
    hub["Loss%"] = float(row["loss_pct"])
    hub["Snt"] = int(row["sent"])
    for column, name in _FIGURES:
        value = row.get(name)
        hub[column] = 0.0 if value is None else float(value)
    return hub
