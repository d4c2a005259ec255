"""A kept run in the RIPE Atlas result format (version 5000 of its documentation),
one result object per place it ran from, so that RIPE's own tools read it:
``ripe.atlas.sagan`` parses it and ``ripe-atlas report --from-file`` renders it.

ping is a ``ping`` result; traceroute and mtr (any tool with a hop table) are
``traceroute`` results with each probe of each hop. What Atlas has and webtrace
does not know gets a fixed value, the same in every export (README, Formats):

- ``fw`` 5000: the version of the format followed, not a firmware;
- ``msm_id`` 0 and ``group_id`` 0: a looking glass run is no Atlas measurement;
- ``prb_id``: the place's position in the run, 1 for a run from one place, so
  that tools grouping by probe keep the places apart (``webtrace.node`` names it);
- ``from`` and ``src_addr`` "": the address the place probes from is not kept;
- ``lts`` -1: Atlas's own "not known" for the clock's last sync;
- traceroute's ``size`` 0 (the run's and each reply's), ``paris_id`` 0, and each
  reply's ``ttl`` 0: the tools' output does not say them. ping's ``size`` is the
  56 bytes of data ping sends unless told otherwise (webtrace never tells it),
  and its replies keep the TTL ping printed.

A place whose tool never ran (a node that refused, or could not be reached) is
a result with ``err`` saying why, as Atlas writes a probe's failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson

from .folded import KeptRun, Part, parts

FORMAT_VERSION = 5000
PING_DATA_BYTES = 56  # ping's own default, which webtrace does not change
# traceroute's notes (!H, !N, ...) as Atlas's per-reply "err".
_NOTE_ERRORS = {"!H": "H", "!N": "N", "!P": "P", "!X": "A", "!p": "p"}


def ping(run: KeptRun) -> Iterator[bytes]:
    """A run of replies (ping) as ``ping`` results."""
    return _results(run, _ping)


def traceroute(run: KeptRun) -> Iterator[bytes]:
    """A run with a hop table (traceroute, mtr) as ``traceroute`` results."""
    return _results(run, _traceroute)


# A place's fields, and its "result" items, made as they are written.
Shape = Callable[[KeptRun, Part], tuple[dict[str, Any], Iterator[dict[str, Any]]]]


def _results(run: KeptRun, shape: Shape) -> Iterator[bytes]:
    """A JSON array of result objects, written a hop or a reply at a time."""
    yield b"["
    for position, part in enumerate(parts(run), start=1):
        fields, items = shape(run, part)
        head = orjson.dumps({**_common(run, part, position), **fields})
        yield (b",\n" if position > 1 else b"") + head[:-1] + b',"result":['
        for index, item in enumerate(items):
            yield (b"," if index else b"") + orjson.dumps(item)
        yield b"]}"
    yield b"]\n"


def _common(run: KeptRun, part: Part, position: int) -> dict[str, Any]:
    start = part.start
    common: dict[str, Any] = {
        "fw": FORMAT_VERSION, "msm_id": 0, "group_id": 0, "prb_id": position, "lts": -1,
        "from": "", "src_addr": "",
        "timestamp": int(run.started_at),
        "af": 6 if start.get("family") == "6" else 4,
        "dst_name": str(start.get("target") or run.meta.get("target") or ""),
        "dst_addr": str(start.get("address") or ""),
        "proto": str(start.get("protocol") or run.meta.get("protocol") or "icmp").upper(),
        "webtrace": {"result": run.id, "node": part.node, "tool": run.meta.get("tool")},
    }
    if not part.ran:
        end = part.end or {}
        common["err"] = str(end.get("message") or "it did not run")
    return common


def _traceroute(run: KeptRun, part: Part) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    fields = {"type": "traceroute", "msm_name": "Traceroute", "paris_id": 0, "size": 0,
              "endtime": int(run.ended_at if run.ended_at is not None else run.started_at)}
    return fields, (_hop(row) for row in part.table())


def _ping(run: KeptRun, part: Part) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    rtts = [r["rtt_ms"] for r in part.replies if _answered(r)] if not _summed(part.summary) else []
    summary = part.summary
    # Atlas writes -1 where nothing came back to measure.
    fields = {
        "type": "ping", "msm_name": "Ping", "size": PING_DATA_BYTES,
        "sent": int(summary.get("transmitted", len(part.replies))),
        "rcvd": int(summary.get("received", len(rtts))),
        "dup": 0,
        "min": summary.get("min_ms", min(rtts, default=-1)),
        "avg": summary.get("avg_ms", round(sum(rtts) / len(rtts), 3) if rtts else -1),
        "max": summary.get("max_ms", max(rtts, default=-1)),
    }
    return fields, (_packet(reply) for reply in part.replies)


def _summed(summary: dict[str, Any]) -> bool:
    """Whether ping's closing lines said everything the result's head needs."""
    return all(key in summary for key in ("transmitted", "received", "min_ms", "avg_ms", "max_ms"))


def _answered(reply: dict[str, Any]) -> bool:
    return not reply.get("lost") and reply.get("rtt_ms") is not None


def _packet(reply: dict[str, Any]) -> dict[str, Any]:
    if not _answered(reply):
        return {"error": reply["error"]} if reply.get("error") else {"x": "*"}
    packet: dict[str, Any] = {"rtt": reply["rtt_ms"]}
    if reply.get("ttl") is not None:
        packet["ttl"] = reply["ttl"]
    return packet


def _hop(row: dict[str, Any]) -> dict[str, Any]:
    hosts = [host["address"] for host in row["hosts"]]
    errors = [_NOTE_ERRORS.get(note, note.lstrip("!")) for note in row.get("notes", [])]
    replies = [_reply(rtt, _who(row, hosts, index), errors) for index, rtt in enumerate(_probes(row))]
    return {"hop": row["hop"], "result": replies or [{"x": "*"}]}


def _probes(row: dict[str, Any]) -> list[float | None]:
    """Each probe's time, in the order sent. A row kept before webtrace noted them
    (mtr's, from earlier versions) gives each answered probe the hop's average."""
    if "rtts_ms" in row:
        return list(row["rtts_ms"])
    lost = row["sent"] - row["received"]
    return [row.get("avg_ms")] * row["received"] + [None] * lost


def _who(row: dict[str, Any], hosts: list[str], index: int) -> str | None:
    """The host that answered probe ``index``: as traceroute printed it, else the hop's first."""
    answered_by = row.get("probe_hosts")
    if answered_by is not None and index < len(answered_by):
        chosen = answered_by[index]
        return hosts[chosen] if chosen is not None and chosen < len(hosts) else None
    return hosts[0] if hosts else None


def _reply(rtt: float | None, origin: str | None, errors: list[str]) -> dict[str, Any]:
    if rtt is None or origin is None:
        return {"x": "*"}
    reply: dict[str, Any] = {"from": origin, "rtt": rtt, "size": 0, "ttl": 0}
    if errors:
        reply["err"] = errors[0]
    return reply
