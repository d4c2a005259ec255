"""What a node may send: the events of a single run, each of the shape this server
itself sends, checked before anything here (recorder, sinks, terminals) sees it.

A node is trusted less than a local tool: it may be another version, broken or
hostile. An event of a kind a single run sends, whose data does not fit that
kind's schema (``events.EVENT_DATA``), ends the node's part; ``done`` and kinds
this server does not know are dropped; fields it does not know are dropped, so
a newer node still works through an older front.

An event's data is read and checked in one pass by msgspec, against a type made
from the schema (``typed``), which takes it or fewer; what that refuses is parsed
again and judged by the schema itself (jsonschema_rs), which also says why. A front
reads every event of every part it relays: one pass costs it a third of the two.
"""

from __future__ import annotations

from typing import get_args

import jsonschema_rs
import msgspec
import orjson

from ..events import EVENT_DATA, Event, Kind, Schema, Status
from .typed import decoder

# A single run's kinds: ``done`` belongs to the front that gathers the parts, and
# ``incomplete`` to the streams of stored results.
NODE_KINDS: frozenset[str] = frozenset(get_args(Kind)) - {"done", "incomplete"}
# The longest reason given to a visitor for refusing what a node sent.
MAX_REASON = 120


class Untrusted(ValueError):
    """A node sent something this server will not pass on; the sentence says what."""


def _node_schema(kind: str, *, closed: bool) -> Schema:
    """``kind``'s schema as a node's event must fit it; ``closed``: with no field this
    server does not know (open: any more, to be dropped)."""
    schema = dict(EVENT_DATA[kind])
    properties = schema["properties"] = dict(schema["properties"])
    if kind == "end":  # a node runs alone: it ends as a single run does, never refused or unavailable
        properties["status"] = {**properties["status"], "enum": list(get_args(Status))}
    if not closed:
        del schema["additionalProperties"]
        if kind == "hop":
            hosts = properties["hosts"] = dict(properties["hosts"])
            hosts["items"] = {name: value for name, value in hosts["items"].items() if name != "additionalProperties"}
    return schema


# Compiled once: a check costs about a microsecond an event (jsonschema in Python, a hundred).
_CLOSED = {kind: jsonschema_rs.Draft202012Validator(_node_schema(kind, closed=True)) for kind in NODE_KINDS}
_OPEN = {kind: jsonschema_rs.Draft202012Validator(_node_schema(kind, closed=False)) for kind in NODE_KINDS}
_FIELDS = {kind: frozenset(EVENT_DATA[kind]["properties"]) for kind in NODE_KINDS}
_HOST_FIELDS = frozenset(EVENT_DATA["hop"]["properties"]["hosts"]["items"]["properties"])
_DECODERS = {kind: decoder(_node_schema(kind, closed=False), f"{kind.title()}Data") for kind in NODE_KINDS}
# An Event made without NamedTuple's ``__new__``, a Python function that doubles the cost
# of making one: the front makes one for every event of every part it relays.
_event = tuple.__new__


def node_event(kind: str, data: bytes) -> Event | None:
    """The event to pass on, from its data as sent (JSON), with only the fields this
    server knows; None to drop it (``done``, or a kind this server does not know).
    Raises Untrusted for an event of a known kind that is malformed. Pure."""
    if kind not in NODE_KINDS:
        return None
    try:
        return _event(Event, (kind, _DECODERS[kind].decode(data)))
    except (msgspec.MsgspecError, RecursionError):  # RecursionError: nested deeper than Python's limit
        return _judged(kind, data)


def _judged(kind: str, data: bytes) -> Event:
    """What msgspec refused, judged by the schema: it may still fit it (``1.0`` is an
    integer to JSON Schema, and not to msgspec)."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise Untrusted(f"it sent a {kind} event whose data is not JSON") from None
    if _CLOSED[kind].is_valid(parsed):
        return _event(Event, (kind, parsed))
    validator = _OPEN[kind]
    if not validator.is_valid(parsed):
        error = next(iter(validator.iter_errors(parsed)))
        where = ".".join(str(step) for step in error.instance_path) or "its data"
        raise Untrusted(f"it sent a malformed {kind} event ({where}: {error.message[:MAX_REASON]})")
    # A newer node's fields: dropped, as a newer node's kinds are.
    known = _FIELDS[kind]
    parsed = {name: value for name, value in parsed.items() if name in known}
    if kind == "hop":
        parsed["hosts"] = [{name: value for name, value in host.items() if name in _HOST_FIELDS}
                           for host in parsed["hosts"]]
    return _event(Event, (kind, parsed))
