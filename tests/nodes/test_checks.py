"""What a node may send, checked as a pure function: events of the shapes this
server sends pass as they are; a newer node's fields are dropped; a malformed
event is refused with a sentence, whatever else it carries; what the one-pass
check (msgspec) refuses and the schema takes still passes."""

from __future__ import annotations

import orjson
import pytest

from webtrace.nodes.checks import Untrusted, node_event

HOP = {"hop": 2, "hosts": [{"address": "10.0.0.1", "name": None}], "sent": 3, "received": 3, "loss_pct": 0.0}


def test_an_event_of_this_server_s_shape_passes_as_it_is() -> None:
    event = node_event("hop", orjson.dumps(HOP))
    assert event is not None and event.kind == "hop" and event.data == HOP
    assert orjson.dumps(event.data) == orjson.dumps(HOP)  # the same fields, in the same order


def test_a_newer_node_s_fields_are_dropped_at_the_top_and_in_a_hop_s_hosts() -> None:
    sent_hosts: list[dict[str, object]] = [{"address": "10.0.0.1", "name": None, "rpki": "valid"},
                                           {"address": "10.0.0.2", "asn": 64500}]
    newer: dict[str, object] = {**HOP, "mpls": [16000], "hosts": sent_hosts}
    event = node_event("hop", orjson.dumps(newer))
    assert event is not None
    hosts = [{"address": "10.0.0.1", "name": None}, {"address": "10.0.0.2", "asn": 64500}]
    assert event.data == {**HOP, "hosts": hosts}


def test_done_and_unknown_kinds_are_skipped() -> None:
    assert node_event("done", b'{"status": "ok", "nodes": {}}') is None
    assert node_event("jitter", b'{"ms": 1}') is None


@pytest.mark.parametrize(("kind", "data", "where"), [
    ("progress", {"done": "1", "total": 5, "extra": 1}, "done"),
    ("hop", {**HOP, "hosts": [{"name": "a", "rpki": "valid"}]}, "hosts.0"),
    ("hop", {**HOP, "hosts": [{"address": "10.0.0.1", "country": "US\n"}]}, "hosts.0.country"),
    ("end", {"status": "unavailable", "exit_code": None, "duration_s": 1.0, "message": "m"}, "status"),
])
def test_a_malformed_event_is_refused_even_beside_fields_it_does_not_know(kind: str, data: dict[str, object],
                                                                          where: str) -> None:
    with pytest.raises(Untrusted, match=f"it sent a malformed {kind} event \\({where}: "):
        node_event(kind, orjson.dumps(data))


@pytest.mark.parametrize("data", [b"", b"{", b'{"text": "a"} x', b"NaN", b'{"text": "\\ud800"}', pytest.param(
    b'{"text": "a", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="nested deeper than Python goes")])
def test_data_that_is_not_json_is_refused(data: bytes) -> None:
    with pytest.raises(Untrusted, match="it sent a line event whose data is not JSON"):
        node_event("line", data)


@pytest.mark.parametrize(("data", "passed"), [
    # JSON Schema's integer is any number without a fraction; msgspec's int is not 2.0.
    (b'{"seq": 2.0, "rtt_ms": 1, "ttl": 64, "host": null, "lost": false}',
     {"seq": 2.0, "rtt_ms": 1, "ttl": 64, "host": None, "lost": False}),
    # Past an int64, where the one-pass check stops: parsed as orjson parses it.
    (b'{"seq": 99999999999999999999, "rtt_ms": 1, "ttl": 64, "host": null, "lost": false, "new": 1}',
     {"seq": 1e20, "rtt_ms": 1, "ttl": 64, "host": None, "lost": False}),
])
def test_what_the_one_pass_check_refuses_and_the_schema_takes_still_passes(data: bytes,
                                                                           passed: dict[str, object]) -> None:
    event = node_event("reply", data)
    assert event is not None and event.data == passed
    orjson.dumps(event.data)  # and it can be written on
