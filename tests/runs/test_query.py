"""A run's query, read once: checked in the order its refusals are given, and costed."""

from __future__ import annotations

import pytest

from tests.runs.support import LIMITS, SPECS
from webtrace.net.targets import Family, TargetError
from webtrace.refusals import BadRequest
from webtrace.runs.query import run_query
from webtrace.tools import LINUX

NODES = ["lon1", "fra1", "ams1"]


def read(tool: str = "ping", **asked: str | None) -> object:
    return run_query(SPECS[tool], platform=LINUX, limits=LIMITS, known_nodes=NODES,
                     **{"target": "127.0.0.1", "family": None, **asked})  # type: ignore[arg-type]


def test_a_query_holds_the_checked_options_and_the_nodes_in_the_server_s_order() -> None:
    query = run_query(SPECS["mtr"], platform=LINUX, limits=LIMITS, known_nodes=NODES, target=" example.net ",
                      family="6", protocol="tcp", count="2", nodes="ams1,LON1")
    assert (query.family, query.options.protocol, query.options.port, query.options.count) == (Family.V6, "tcp", 80, 2)
    assert query.nodes == ("lon1", "ams1") and query.runs == 2
    assert query.target == " example.net "  # text still: resolved when planned
    alone = run_query(SPECS["ping"], platform=LINUX, limits=LIMITS, known_nodes=NODES, target="x", family=None)
    assert alone.nodes is None and alone.runs == 1
    assert run_query(SPECS["ping"], platform=LINUX, limits=LIMITS, known_nodes=NODES, target="x", family=None,
                     nodes="all").nodes == tuple(NODES)


def test_the_original_s_aftype_agrees_with_family_or_is_refused() -> None:
    assert read(aftype="ipv6").family == Family.V6  # type: ignore[attr-defined]
    assert read(aftype="ipv4", family="4").family == Family.V4  # type: ignore[attr-defined]
    with pytest.raises(BadRequest, match="family=6 and aftype=ipv4 disagree"):
        read(aftype="ipv4", family="6")


def test_refusals_come_in_order_family_options_target_nodes() -> None:
    with pytest.raises(TargetError, match="family"):
        read(family="5", count="0", target="")
    with pytest.raises(BadRequest, match="count must be"):
        read(count="0", target="", nodes="nowhere")
    with pytest.raises(BadRequest, match="No target specified"):
        read(target="  ", nodes="nowhere")
    with pytest.raises(BadRequest, match="there is no node called 'nowhere' here; nodes are: lon1, fra1, ams1"):
        read(nodes="nowhere")


def test_a_well_formed_query_can_still_hold_a_target_that_never_runs() -> None:
    with pytest.raises(TargetError):
        read(target="-f").well_formed()  # type: ignore[attr-defined]
