"""A continuous run's result (design §13): what it keeps, and that a run of the
most a continuous run may last, on a 30-hop path, fits in a result."""

from typing import Any

import orjson

from webtrace.events import Event
from webtrace.parsers import MtrParser
from webtrace.results.recorder import EVENT_OVERHEAD, Compaction, Results
from webtrace.results.store import MemoryStore
from webtrace.settings import Settings

HOPS = 30
TARGET = "203.0.113.30"


def _address(pos: int) -> str:
    return TARGET if pos == HOPS - 1 else f"198.51.{100 + pos // 250}.{pos % 250 + 1}"


def _mtr_lines(cycles: int) -> list[str]:
    """mtr --raw's records for ``cycles`` cycles on a 30-hop path, hop 7 losing every
    third probe and hop 12 changing address half way, as a long real run would."""
    lines: list[str] = []
    seq = 33000
    for cycle in range(1, cycles + 1):
        for pos in range(HOPS):
            seq += 1
            lines.append(f"x {pos} {seq}")
            address = _address(pos) if not (pos == 12 and cycle > cycles // 2) else "198.51.100.213"
            if cycle == 1 or (pos == 12 and cycle == cycles // 2 + 1):
                lines.append(f"h {pos} {address}")
            if not (pos == 7 and cycle % 3 == 0):
                lines.append(f"p {pos} {1000 + 137 * pos + cycle % 97} {seq}")
    return lines


def _annotated(event: Event) -> Event:
    """The hop row as names, AS and country make it (the longest a row gets)."""
    if event.kind != "hop":
        return event
    hosts = [{**host, "name": f"ae{index}-{event.data['hop']}.core.router.example.net", "asn": 4200000000 + index,
              "as_name": "EXAMPLE-TRANSIT-NETWORK - Example Transit Network, Inc.", "country": "NL"}
             for index, host in enumerate(event.data["hosts"])]
    return Event("hop", {**event.data, "hosts": hosts})


def _run(cycles: int) -> list[list[Event]]:
    """The batches a continuous mtr of ``cycles`` cycles hands its sink, a read at a time."""
    parser = MtrParser(address=TARGET, count=cycles + 2)
    batches = [[Event("start", {"tool": "mtr", "target": TARGET, "address": TARGET, "family": "4",
                                "protocol": "icmp", "port": None, "count": None, "command": "mtr …",
                                "result": None, "continuous": True})]]
    for line in _mtr_lines(cycles):
        batches.append([Event("line", {"text": line}), *map(_annotated, parser.feed(line))])
    batches.append([*map(_annotated, parser.finish())])
    batches.append([Event("end", {"status": "timeout", "exit_code": None, "duration_s": float(cycles),
                                  "message": "mtr ran for 600 s, the most a continuous run may here"})])
    return batches


def _stored_size(events: list[tuple[int, str, dict[str, Any]]]) -> int:
    return sum(len(orjson.dumps(data)) + EVENT_OVERHEAD for _, _, data in events)


async def test_a_continuous_mtr_of_the_most_on_a_30_hop_path_fits_in_a_result() -> None:
    settings = Settings()
    cycles = int(settings.continuous_max / settings.mtr_interval)  # 600 cycles of 30 hops
    results = Results(MemoryStore(3600), max_bytes=settings.result_max_bytes, node="here", run_timeout=30,
                      continuous_max=settings.continuous_max)
    recorder = results.start({"tool": "mtr", "continuous": True}, compaction=Compaction(lines=False))
    assert recorder is not None
    sent = 0
    for batch in _run(cycles):
        recorder.record(batch)
        sent += len(batch)
    await results.close()
    stored = await results.store.load(recorder.id)  # type: ignore[union-attr]
    assert stored is not None and stored.status == "timeout" and not stored.cut
    kinds = [kind for _, kind, _ in stored.events]
    assert kinds.count("cycle") == cycles and kinds.count("hop") == HOPS and "line" not in kinds
    size = _stored_size(stored.events)
    # What the computation gives, kept in sight: about a third of the 2 MiB a result may hold.
    print(f"{cycles} cycles of {HOPS} hops: {sent} events streamed, {len(stored.events)} kept, {size} bytes")
    assert size <= settings.result_max_bytes
    # Hop 13 changed address half way: its cycles say so, at its place.
    changed = [data["hosts"][12] for _, kind, data in stored.events if kind == "cycle"]
    assert changed[cycles // 2 - 1] == _address(12) and changed[cycles // 2] == "198.51.100.213"
    # Every row's last form: each probe's time, and hop 8's losses.
    hop8 = next(data for _, kind, data in stored.events if kind == "hop" and data["hop"] == 8)
    assert hop8["sent"] == cycles and hop8["received"] == cycles - cycles // 3
    assert len(hop8["rtts_ms"]) == cycles


async def test_without_compaction_the_same_run_would_not_fit() -> None:
    """What the compaction is for: the rows of every probe alone outgrow a result."""
    settings = Settings()
    results = Results(MemoryStore(3600), max_bytes=settings.result_max_bytes, node="here", run_timeout=30)
    recorder = results.start({"tool": "mtr"})
    assert recorder is not None
    for batch in _run(int(settings.continuous_max / settings.mtr_interval)):
        recorder.record(batch)
    assert recorder.cut
    await results.close()


async def test_a_trim_drops_the_rows_past_it_from_the_result() -> None:
    results = Results(MemoryStore(3600), max_bytes=2**20, node="here", run_timeout=30)
    recorder = results.start({"tool": "mtr", "continuous": True}, compaction=Compaction(lines=False))
    assert recorder is not None
    row = {"hosts": [], "sent": 1, "received": 0, "loss_pct": 0.0}
    recorder.record([Event("hop", {"hop": 1, **row}), Event("hop", {"hop": 2, **row}),
                     Event("hop", {"hop": 3, **row})])
    recorder.record([Event("trim", {"hops": 1}), Event("hop", {"hop": 1, **row, "sent": 2})])
    assert [(number, kind) for number, kind, _ in recorder.events] == [(4, "trim"), (5, "hop")]
    await results.close()
    stored = await results.store.load(recorder.id)  # type: ignore[union-attr]
    assert stored is not None and [number for number, _, _ in stored.events] == [4, 5]
