"""A kept run as CSV (RFC 4180, a header row first) for a spreadsheet: a row per
host of each hop (traceroute, mtr; a hop that did not answer is one row with no
address), or a row per reply (ping); the place it ran from is the first column.

A text cell that a spreadsheet would take for a formula (``=``, ``+``, ``-``,
``@``, a tab or a carriage return first) gets a ``'`` first: names come from
other people's DNS, and a file opened from a ticket should not run anything.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from .folded import KeptRun, parts

HOP_COLUMNS = ("node", "hop", "address", "name", "asn", "as_name", "country", "loss_pct", "sent", "received",
               "last_ms", "avg_ms", "best_ms", "worst_ms", "stdev_ms")
REPLY_COLUMNS = ("node", "seq", "host", "rtt_ms", "ttl", "lost", "error")
_FORMULA_FIRST = ("=", "+", "-", "@", "\t", "\r")


def hops(run: KeptRun) -> Iterator[bytes]:
    return _csv(HOP_COLUMNS, _hop_rows(run))


def replies(run: KeptRun) -> Iterator[bytes]:
    return _csv(REPLY_COLUMNS, _reply_rows(run))


def _hop_rows(run: KeptRun) -> Iterator[list[Any]]:
    for part in parts(run):
        for row in part.table():
            figures = [row["loss_pct"], row["sent"], row["received"],
                       *(row.get(name) for name in ("last_ms", "avg_ms", "best_ms", "worst_ms", "stdev_ms"))]
            for host in row["hosts"] or [{}]:
                yield [part.node, row["hop"], host.get("address"), host.get("name"), host.get("asn"),
                       host.get("as_name"), host.get("country"), *figures]


def _reply_rows(run: KeptRun) -> Iterator[list[Any]]:
    for part in parts(run):
        for reply in part.replies:
            yield [part.node, reply["seq"], reply.get("host"), reply.get("rtt_ms"), reply.get("ttl"),
                   "true" if reply.get("lost") else "false", reply.get("error")]


def _csv(header: Iterable[str], rows: Iterable[list[Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
        if buffer.tell() >= 16384:
            yield _drain(buffer)
    yield _drain(buffer)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_FIRST):
        return "'" + value
    return value


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode()
