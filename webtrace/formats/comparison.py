"""Two kept runs of one tool laid against each other: is the path the same, and
how did loss and latency move? Pure: two kept runs in, one JSON-ready answer out.

Hop tools (traceroute, mtr, tracepath) compare hop by hop. A hop *changed*
when both runs heard from it and no address is in both; where the addresses
overlap but differ, the hop balances over several routers (ECMP) and *varies*;
where either run heard nothing, the hop is *unknown*, since silence says
nothing of who is there. The path changed at the first hop that changed, and
its verdict names the AS before and after (or the addresses, where no AS is
known); a path whose hops all agree but whose target answered at another hop
says so. ping compares its statistics and lays both runs' replies side by side.

Every change is ``b - a``: comparing ``b`` with ``a`` negates each one. Runs from
several places compare place by place, matched by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from .folded import KeptRun, Part, parts

HopState = Literal["same", "varies", "changed", "unknown", "only_a", "only_b"]


class NotComparable(ValueError):
    """The two runs cannot be laid against each other (different tools)."""


def compare(a: KeptRun, b: KeptRun, *, hops: bool) -> dict[str, Any]:
    """``a`` against ``b``; ``hops``: their tool has a hop table (else replies, as ping)."""
    tool_a, tool_b = a.meta.get("tool"), b.meta.get("tool")
    if tool_a != tool_b:
        raise NotComparable(f"a {tool_a} result and a {tool_b} result cannot be compared: "
                            f"compare two results of the same tool")
    by_node_a = {part.node: part for part in parts(a)}
    by_node_b = {part.node: part for part in parts(b)}
    several = bool(a.meta.get("nodes") or b.meta.get("nodes"))
    places: list[dict[str, Any]] = []
    for node in [*by_node_a, *(n for n in by_node_b if n not in by_node_a)]:
        part_a, part_b = by_node_a.get(node), by_node_b.get(node)
        if part_a is None or part_b is None:
            places.append({"node": node, "verdict": f"only {'b' if part_a is None else 'a'} ran from {node}"})
            continue
        compared = _hops(part_a, part_b) if hops else _replies(part_a, part_b)
        places.append({"node": node, **compared})
    if not several and len(places) == 1:
        verdict = places[0]["verdict"]
    else:
        # "from" first: a node's name keeps its own case when the sentence begins.
        verdict = "; ".join(f"from {place['node']}: {place['verdict']}" for place in places)
    return {"tool": tool_a, "a": _about(a), "b": _about(b), "verdict": _sentence(verdict), "places": places}


def _about(run: KeptRun) -> dict[str, Any]:
    return {"id": run.id, "target": run.meta.get("target"), "node": run.meta.get("node"),
            "started_at": run.started_at, "ended_at": run.ended_at}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


# -- hop tables


def _hops(a: Part, b: Part) -> dict[str, Any]:
    if not (a.ran and b.ran):
        return {"verdict": _not_run(a, b), "hops": [], "same_path": None}
    rows_a, rows_b = {r["hop"]: r for r in a.table()}, {r["hop"]: r for r in b.table()}
    numbers = sorted(set(rows_a) | set(rows_b))
    hops = [_hop(number, rows_a.get(number), rows_b.get(number)) for number in numbers]
    end_a, end_b = _target_hop(a), _target_hop(b)
    changed = next((hop for hop in hops if hop["state"] == "changed"), None)
    target = _at_target(rows_a.get(end_a) if end_a else None, rows_b.get(end_b) if end_b else None)
    if changed is not None:
        verdict = f"the path changed at hop {changed['hop']}: {_who(changed['a'])} -> {_who(changed['b'])}"
    elif end_a != end_b:
        verdict = f"the path changed: the target answered at {_hop_words(end_a)} in a, at {_hop_words(end_b)} in b"
    else:
        verdict = "same path" + (f"; at the target {target['words']}" if target["words"] else "")
    return {"verdict": verdict, "same_path": changed is None and end_a == end_b,
            "changed_at": changed["hop"] if changed else None,
            "target_hop": {"a": end_a, "b": end_b}, "at_target": target["figures"], "hops": hops}


def _hop(number: int, a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any]:
    hosts_a, hosts_b = (a or {}).get("hosts", []), (b or {}).get("hosts", [])
    addresses_a, addresses_b = {h["address"] for h in hosts_a}, {h["address"] for h in hosts_b}
    state: HopState
    if a is None or b is None:
        state = "only_a" if b is None else "only_b"
    elif not addresses_a or not addresses_b:
        state = "unknown"
    elif addresses_a == addresses_b:
        state = "same"
    elif addresses_a & addresses_b:
        state = "varies"
    else:
        state = "changed"
    return {"hop": number, "state": state, "a": hosts_a, "b": hosts_b,
            "loss_pct": _moved(a, b, "loss_pct"), "avg_ms": _moved(a, b, "avg_ms")}


def _moved(a: dict[str, Any] | None, b: dict[str, Any] | None, name: str) -> dict[str, Any]:
    before, after = (a or {}).get(name), (b or {}).get(name)
    change = round(after - before, 3) if before is not None and after is not None else None
    return {"a": before, "b": after, "change": change}


def _target_hop(part: Part) -> int | None:
    """The hop at which the target answered, if it did."""
    address = part.start.get("address")
    for row in part.table():
        if any(host["address"] == address for host in row["hosts"]):
            return int(row["hop"])
    return None


def _at_target(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any]:
    if a is None or b is None:
        return {"figures": None, "words": ""}
    avg, loss = _moved(a, b, "avg_ms"), _moved(a, b, "loss_pct")
    words = []
    if avg["change"] is not None:
        words.append(f"avg {avg['change']:+.1f} ms")
    words.append(f"loss {_pct(loss['a'])} -> {_pct(loss['b'])}")
    return {"figures": {"avg_ms": avg, "loss_pct": loss}, "words": ", ".join(words)}


def _who(hosts: Sequence[dict[str, Any]]) -> str:
    """A hop's hosts as the verdict names them: their AS numbers, else their addresses."""
    ases = sorted({h["asn"] for h in hosts if h.get("asn")})
    if ases:
        return ", ".join(f"AS{asn}" for asn in ases)
    return ", ".join(h["address"] for h in hosts)


def _hop_words(hop: int | None) -> str:
    return "no hop" if hop is None else f"hop {hop}"


def _pct(value: float | None) -> str:
    return "?" if value is None else f"{value:g} %"


def _not_run(a: Part, b: Part) -> str:
    which = [name for name, part in (("a", a), ("b", b)) if not part.ran]
    return f"nothing to compare: {' and '.join(which)} did not run from {a.node}"


# -- replies


_STATS = ("transmitted", "received", "loss_pct", "min_ms", "avg_ms", "max_ms")


def _replies(a: Part, b: Part) -> dict[str, Any]:
    if not (a.ran and b.ran):
        return {"verdict": _not_run(a, b), "statistics": {}, "series": {"a": [], "b": []}}
    stats_a, stats_b = _statistics(a), _statistics(b)
    statistics = {name: _moved(stats_a, stats_b, name) for name in _STATS}
    words = []
    if statistics["avg_ms"]["change"] is not None:
        words.append(f"avg {statistics['avg_ms']['change']:+.1f} ms")
    words.append(f"loss {_pct(stats_a.get('loss_pct'))} -> {_pct(stats_b.get('loss_pct'))}")
    series = {name: [{"seq": r["seq"], "rtt_ms": None if r.get("lost") else r.get("rtt_ms")} for r in part.replies]
              for name, part in (("a", a), ("b", b))}
    return {"verdict": ", ".join(words), "statistics": statistics, "series": series}


def _statistics(part: Part) -> dict[str, Any]:
    """ping's own closing figures, or what its replies say where it printed none."""
    rtts = [r["rtt_ms"] for r in part.replies if not r.get("lost") and r.get("rtt_ms") is not None]
    sent = len(part.replies)
    counted = {
        "transmitted": sent, "received": len(rtts),
        "loss_pct": round(100 * (sent - len(rtts)) / sent, 1) if sent else None,
        "min_ms": min(rtts, default=None), "max_ms": max(rtts, default=None),
        "avg_ms": round(sum(rtts) / len(rtts), 3) if rtts else None,
    }
    return {**counted, **{k: v for k, v in part.summary.items() if k in _STATS}}
