"""What a run route was asked for, read once per request (design §11).

``run_query`` checks the parameters in the order their refusals are given (the
family, the tool record's own options, the target, the nodes); the rate limit
counts nodes from the result and planning takes it whole. Pure: the values come
in as text (None: not given), the answer is a ``RunQuery`` or a refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..net.targets import Family, parse_aftype, parse_family, parse_target
from ..refusals import BadRequest
from ..tools import Options, RunLimits, ToolSpec, choose_continuous, choose_options


@dataclass(frozen=True, slots=True)
class RunQuery:
    """A run route's query, each part checked as far as it can be without
    resolving: the target is still text."""

    spec: ToolSpec
    family: Family
    options: Options
    target: str
    nodes: tuple[str, ...] | None = None  # None: this server alone, as without vantage points
    continuous: bool = False  # until stopped (or its budget or the most a continuous run may last)

    @property
    def runs(self) -> int:
        """What it costs from a visitor's budget: a run, or one per node."""
        return len(self.nodes) if self.nodes else 1

    def well_formed(self) -> None:
        """Refuse a target that can never be run (its grammar), without resolving it."""
        parse_target(self.target)


def run_query(spec: ToolSpec, *, platform: str, limits: RunLimits, known_nodes: Sequence[str],
              target: str | None, family: str | None, aftype: str | None = None, protocol: str | None = None,
              port: str | None = None, count: str | None = None, nodes: str | None = None,
              continuous: str | None = None) -> RunQuery:
    """The query, checked; raises a Refusal. ``aftype``: the original webtrace's
    family (the text routes'), which must not disagree with ``family``."""
    chosen = _family(family, aftype)
    options = choose_options(spec, platform, limits, protocol=protocol, port=port, count=count)
    until_stopped = choose_continuous(spec, limits, continuous, count)
    if until_stopped:
        options = replace(options, count=None)  # it has none: the plan gives the tool one past its most
    if target is None or not target.strip():
        raise BadRequest("No target specified")
    return RunQuery(spec, chosen, options, target, _nodes(nodes, known_nodes), until_stopped)


def _family(family: str | None, aftype: str | None) -> Family:
    chosen = parse_family(family)
    legacy = parse_aftype(aftype)
    if Family.AUTO not in (chosen, legacy) and chosen != legacy:
        raise BadRequest(f"family={chosen.value} and aftype={aftype} disagree: give one of them")
    return legacy if chosen == Family.AUTO else chosen


def _nodes(text: str | None, known: Sequence[str]) -> tuple[str, ...] | None:
    """The vantage points asked for, by name, in the server's order; None if not asked."""
    if text is None or not text.strip():
        return None
    asked = {name.strip().lower() for name in text.split(",") if name.strip()}
    if "all" in asked:
        return tuple(known)
    unknown = sorted(asked - set(known))
    if unknown:
        raise BadRequest(f"there is no node called {unknown[0]!r} here; nodes are: {', '.join(known)}")
    return tuple(name for name in known if name in asked)
