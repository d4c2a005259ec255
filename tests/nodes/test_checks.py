"""What a node may send, checked as a pure function: events of the shapes this
server sends pass as they are; a newer node's fields are dropped; a malformed
event is refused with a sentence, whatever else it carries."""

from __future__ import annotations

import pytest

from webtrace.nodes.checks import Untrusted, node_event

HOP = {"hop": 2, "hosts": [{"address": "10.0.0.1", "name": None}], "sent": 3, "received": 3, "loss_pct": 0.0}


def test_an_event_of_this_server_s_shape_passes_as_it_is() -> None:
    event = node_event("hop", HOP)
    assert event is not None and event.kind == "hop" and event.data is HOP


def test_a_newer_node_s_fields_are_dropped_at_the_top_and_in_a_hop_s_hosts() -> None:
    sent_hosts: list[dict[str, object]] = [{"address": "10.0.0.1", "name": None, "rpki": "valid"},
                                           {"address": "10.0.0.2", "asn": 64500}]
    newer: dict[str, object] = {**HOP, "mpls": [16000], "hosts": sent_hosts}
    event = node_event("hop", newer)
    assert event is not None
    hosts = [{"address": "10.0.0.1", "name": None}, {"address": "10.0.0.2", "asn": 64500}]
    assert event.data == {**HOP, "hosts": hosts}
    assert "mpls" in newer and "rpki" in sent_hosts[0]  # what the node sent is left as it was


def test_done_and_unknown_kinds_are_skipped() -> None:
    assert node_event("done", {"status": "ok", "nodes": {}}) is None
    assert node_event("jitter", {"ms": 1}) is None


@pytest.mark.parametrize(("kind", "data", "where"), [
    ("progress", {"done": "1", "total": 5, "extra": 1}, "done"),
    ("hop", {**HOP, "hosts": [{"name": "a", "rpki": "valid"}]}, "hosts.0"),
    ("end", {"status": "unavailable", "exit_code": None, "duration_s": 1.0, "message": "m"}, "status"),
])
def test_a_malformed_event_is_refused_even_beside_fields_it_does_not_know(kind: str, data: dict[str, object],
                                                                          where: str) -> None:
    with pytest.raises(Untrusted, match=f"it sent a malformed {kind} event \\({where}: "):
        node_event(kind, data)
