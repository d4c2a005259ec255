"""The types a node's events are read into in one pass, beside the schemas they
are made from: whatever JSON one of them takes, the schema takes too (jsonschema_rs
judges), with the fields it does not name dropped; a schema they cannot follow is
refused when they are made, not checked more loosely."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webtrace.nodes.checks import _DECODERS, NODE_KINDS, _node_schema
from webtrace.nodes.typed import SchemaUnsupported, decoder

HOST = {"address": "10.0.0.1", "name": "r1.example.net", "asn": 64500, "as_name": "EXAMPLE", "country": "NL"}
# An event of each kind a node sends, every field it may hold set.
SAMPLES: dict[str, dict[str, Any]] = {
    "start": {"tool": "ping", "target": "h", "address": "10.0.0.1", "family": "4", "protocol": "icmp", "port": None,
              "count": 5, "command": "ping h", "result": None, "continuous": True, "node": "n1"},
    "line": {"text": "64 bytes from 10.0.0.1"},
    "reply": {"seq": 1, "rtt_ms": 0.05, "ttl": 64, "host": "10.0.0.1", "lost": False, "error": "x"},
    "summary": {"transmitted": 5, "received": 5, "errors": 0, "loss_pct": 0.0, "min_ms": 0.1, "avg_ms": 0.2,
                "max_ms": 0.3, "mdev_ms": 0.01, "pmtu": 1500, "hops": 3, "back": 3, "local_pmtu": 1500},
    "hop": {"hop": 1, "hosts": [HOST, {"address": "10.0.0.2"}], "sent": 3, "received": 2, "loss_pct": 33.3,
            "last_ms": 1, "avg_ms": None, "best_ms": 0.5, "worst_ms": 2.0, "stdev_ms": 0.1,
            "rtts_ms": [1.0, None], "probe_hosts": [0, None], "notes": ["!H"], "pmtu": 1400, "asymm": 2},
    "trim": {"hops": 4},
    "cycle": {"cycle": 1, "rtts_ms": [0.3, None], "hosts": ["10.0.0.1", None]},
    "progress": {"done": 1, "total": 5, "elapsed_s": 1.5, "max_s": 60},
    "end": {"status": "ok", "exit_code": 0, "duration_s": 1.2, "message": "done", "code": "c", "http_status": 200},
}
# JSON values, those at the edges of what the schemas say among them.
EDGES = st.sampled_from([0, 1, -1, 2 ** 63 - 1, 2 ** 63, -(2 ** 63) - 1, 2 ** 64, 1.0, 0.5, -0.0, 1e300, True,
                         False, None, "", "4", "6", "7", "icmp", "ok", "refused", "NL", "nl", "NL\n", "NLD", "\nNL"])
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=4) | EDGES)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["address", "country", "asn", "x"]) | st.text(max_size=3),
                                      inner, max_size=3), max_leaves=6)


def _open(kind: str) -> Any:
    return jsonschema_rs.Draft202012Validator(_node_schema(kind, closed=False))


def _known(schema: dict[str, Any], value: Any) -> Any:
    """``value`` with only the fields ``schema`` names, at every depth."""
    if isinstance(value, dict) and "properties" in schema:
        return {k: _known(schema["properties"][k], v) for k, v in value.items() if k in schema["properties"]}
    if isinstance(value, list) and "items" in schema:
        return [_known(schema["items"], v) for v in value]
    return value


@st.composite
def altered(draw: st.DrawFn) -> tuple[str, bytes]:
    """A sample with some of its fields (at the top, or a hop's first host's) set to other
    JSON, new ones added, or some taken away."""
    kind = draw(st.sampled_from(sorted(NODE_KINDS)))
    data = orjson.loads(orjson.dumps(SAMPLES[kind]))
    for _ in range(draw(st.integers(1, 3))):
        where = data
        hosts = data.get("hosts")
        if kind == "hop" and isinstance(hosts, list) and hosts and isinstance(hosts[0], dict) and draw(st.booleans()):
            where = hosts[0]
        field = draw((st.sampled_from(sorted(where)) if where else st.nothing()) | st.text(max_size=3))
        if draw(st.integers(0, 4)) == 0:
            where.pop(field, None)
        else:
            where[field] = draw(JSON)
    return kind, json.dumps(data).encode()  # orjson writes no integer past 64 bits


@settings(max_examples=2000, deadline=None)
@given(altered())
def test_whatever_the_one_pass_check_takes_the_schema_takes_too(sent: tuple[str, bytes]) -> None:
    kind, raw = sent
    schema = _node_schema(kind, closed=False)
    try:
        taken = _DECODERS[kind].decode(raw)  # the ones the checks read with
    except msgspec.ValidationError:
        return  # judged by the schema after it (checks)
    parsed = orjson.loads(raw)
    assert _open(kind).is_valid(parsed), (kind, raw)
    assert taken == _known(schema, parsed)
    assert orjson.loads(orjson.dumps(taken)) == taken  # and written again as it was read


@pytest.mark.parametrize("kind", sorted(NODE_KINDS))
def test_each_kind_s_sample_is_taken_as_it_is(kind: str) -> None:
    assert _open(kind).is_valid(SAMPLES[kind])
    assert _DECODERS[kind].decode(orjson.dumps(SAMPLES[kind])) == SAMPLES[kind]


def test_a_country_with_a_newline_after_it_is_refused_as_the_schema_refuses_it() -> None:
    hop = _DECODERS["hop"]
    refused = orjson.dumps({**SAMPLES["hop"], "hosts": [{**HOST, "country": "NL\n"}]})
    assert not _open("hop").is_valid(orjson.loads(refused))
    with pytest.raises(msgspec.ValidationError):
        hop.decode(refused)


@pytest.mark.parametrize("schema", [
    {"type": "string", "maxLength": 3},
    {"type": "string", "pattern": "^a$|^b$"},
    {"type": "integer", "enum": [1, 2]},
    {"type": ["string", "null"], "enum": ["a"]},
    {"type": "object", "additionalProperties": {"type": "string"}},
    {"type": "array"},
    {"enum": ["a"]},
])
def test_a_schema_they_cannot_follow_is_refused_when_they_are_made(schema: dict[str, Any]) -> None:
    with pytest.raises(SchemaUnsupported):
        decoder(schema, "Data")
