"""The tools webtrace runs, each as one record: everything about a tool is here.

A :class:`ToolSpec` holds a tool's argv per platform (with the protocols each
platform's tool speaks), the options it takes (protocol, port, count) and their
checks (``choose_options``), its parser, its text view, its count and interval,
its route in the original webtrace, its label and how the page shows its output
(``view``). Routes, the page, the options' checks, the text sink and the choice
of parser all read these records, so a new tool is a new record (see
``TOOLS``), not an edit in every room.

An argv template is a tuple of tokens; ``{name}`` tokens are filled from
:class:`ToolContext`, and the special tokens ``{family}`` and ``{protocol}``
expand to the platform's flags for the family and the protocol. Nothing here runs anything: ``build_argv`` is pure.
Executables are looked up on ``PATH`` (see ``locate``), so an operator (or a
test) can put a wrapper first, and a missing tool fails that tool alone.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .events import PROTOCOLS, Parser, TextView
from .formats.exports import ATLAS_PING, ATLAS_TRACEROUTE, CSV_HOPS, CSV_REPLIES, MTR_JSON, OWN_LABELS, Export
from .formats.mtr_report import MtrReport
from .formats.text import NodeLines, TextLines
from .net.targets import Family
from .parsers import MtrParser, PingParser, TracepathParser, TracerouteParser
from .refusals import BadRequest, Refusal, UnknownTool

LINUX = "linux"
WINDOWS = "win32"
ICMP, UDP, TCP = PROTOCOLS
MAX_PORT = 65535
# How the page shows a tool's output: a chart of replies, a table of hops, or its lines alone.
View = Literal["chart", "hops", "lines"]
# The page's hop table columns (its template's data-column names) a hop tool shows unless its record says.
HOP_COLUMNS = ("hop", "hosts", "loss_pct", "sent", "last_ms", "avg_ms", "best_ms", "worst_ms", "stdev_ms", "bar")


class ToolUnavailable(Refusal, LookupError):
    """The tool is not installed on this server (or not offered on its platform)."""

    status = 503
    code = "tool_unavailable"


@dataclass(frozen=True, slots=True)
class Counting:
    """A tool that takes a count: how many probes (or cycles) unless asked, and the
    seconds between them."""

    default: int
    interval_s: float
    # The seconds it waits for the last probe's answers before it ends (None: it has no
    # such option, or its own default is kept).
    wait_s: float | None = None


@dataclass(frozen=True, slots=True)
class RunLimits:
    """What the server allows any run: the most a count may be, and how long a run may
    last; a continuous run, at most ``continuous_max_s`` (0: none are offered)."""

    max_count: int
    timeout_s: float
    continuous_max_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Options:
    """What a visitor chose for one run, checked (see ``choose_options``)."""

    protocol: str  # one of PROTOCOLS
    port: int | None  # None: the tool's own
    count: int | None  # probes (ping) or cycles (mtr); None for a tool that takes none


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What an argv template and a parser may be filled from, for one run."""

    address: str
    family: Family  # V4 or V6: the family of ``address``
    options: Options
    max_hops: int
    interval_s: float | None = None  # the seconds between probes, for a tool that takes a count
    wait_s: float | None = None  # the seconds it waits for the last answers, where it is told


@dataclass(frozen=True, slots=True)
class Argv:
    """How one platform runs a tool."""

    executable: str
    template: tuple[str, ...]
    family_flags: Mapping[Family, tuple[str, ...]] = field(
        default_factory=lambda: {Family.V4: ("-4",), Family.V6: ("-6",)}
    )
    parsed: bool = True  # whether the tool's parser reads this platform's output
    # The protocols it speaks, each with the flags that ask for it ({port} is
    # filled in); the first is its default.
    protocols: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {ICMP: ()})
    # The flags for a protocol when a port is given, where they differ.
    with_port: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def protocol_flags(self, protocol: str, port: int | None) -> tuple[str, ...]:
        flags = self.with_port.get(protocol, self.protocols[protocol]) if port is not None else self.protocols[protocol]
        return tuple(str(port) if flag == "{port}" else flag for flag in flags)


# A parser for one run: given the address probed and the progress total.
ParserFactory = Callable[[str, int], Parser]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str  # in URLs, the API and the page: ping, traceroute, mtr
    label: str  # on the page
    text_route: str  # the original webtrace's plain-text route: /ping, /trace, /mtr
    argv: Mapping[str, Argv]  # per platform; other Unixes take LINUX's
    parser: ParserFactory | None = None  # None: the output is streamed as lines only
    # Its count (probes or cycles; also the progress total) and interval; None: it takes
    # no count. The built-in tools' come from settings (``counted``).
    count: Counting | None = None
    ports: bool = False  # whether a port can be chosen (with a protocol other than ICMP)
    default_ports: Mapping[str, int] = field(default_factory=dict)  # e.g. TCP: 80
    aliases: tuple[str, ...] = ()  # other names the original's page links use (?action=trace)
    # What the text routes print, given the server's name and when the run began;
    # None: the tool's own lines.
    text_view: Callable[[str, float], TextView] | None = None
    # Whether its parser tells hop rows, which get names, AS and country (webtrace.hops).
    hops: bool = False
    view: View = "lines"  # how the page shows its output
    silent: str = "*"  # how the page's hop table shows a hop that did not answer
    columns: tuple[str, ...] = HOP_COLUMNS  # the hop table's columns it shows, in the template's order
    # The formats its results can be read in besides json and text (?format=).
    exports: tuple[Export, ...] = ()
    # Whether it can run until stopped (continuous=true): a tool that probes again and
    # again at its interval. Its count is then what the most a run may last allows.
    continuous: bool = False

    def text(self, server: str, started: float, *, several: bool = False) -> TextLines | NodeLines:
        """What its text route prints for a run (``several``: from several nodes) begun at ``started``."""
        if several:
            return NodeLines(lambda node: self._text(node, started))
        return self._text(server, started)

    def _text(self, server: str, started: float) -> TextLines:
        return TextLines(self.name, self.text_view(server, started) if self.text_view is not None else None)

    def page(self, platform: str) -> dict[str, object] | None:
        """What the page's script knows of the tool (None: not offered on ``platform``)."""
        argv = self.argv_on(platform)
        if argv is None:
            return None
        return {"name": self.name, "label": self.label, "text_route": self.text_route, "aliases": list(self.aliases),
                "protocols": list(argv.protocols), "ports": self.ports, "count": self.count is not None,
                "interval_s": self.count.interval_s if self.count is not None else None,
                # Its lines are records for a program: people read a report made of its rows instead.
                "report": self.text_view is not None, "continuous": self.continuous,
                "view": self.view, "silent": self.silent, "columns": list(self.columns),
                "formats": [*({"name": name, "label": label} for name, label in OWN_LABELS.items()),
                            *({"name": export.name, "label": export.label} for export in self.exports)]}

    def export(self, name: str) -> Export | None:
        return next((export for export in self.exports if export.name == name), None)

    def argv_on(self, platform: str) -> Argv | None:
        """How ``platform`` runs this tool, or None if it is not offered there."""
        found = self.argv.get(platform)
        if found is None and platform != WINDOWS:
            found = self.argv.get(LINUX)
        return found

    def parser_for(self, address: str, total: int, platform: str) -> Parser | None:
        argv = self.argv_on(platform)
        if self.parser is None or argv is None or not argv.parsed:
            return None
        return self.parser(address, total)


# How long mtr waits for the last cycle's answers before it ends, unless the operator
# says (WEBTRACE_MTRGRACE). Its own default is 5 s, which every run spent idle after
# its count; an answer slower than 2 s is one no path a looking glass shows should give.
MTR_GRACE_S = 2.0

MTR = ToolSpec(
    name="mtr",
    label="mtr",
    text_route="mtr",
    # --raw: one machine-readable record per probe, parsed into the live table.
    # --no-dns here and -n for traceroute: webtrace looks names up itself
    # (webtrace.hops), so a slow PTR answer never holds a probe back.
    argv={LINUX: Argv(
        "mtr",
        ("--raw", "--no-dns", "{protocol}", "-c", "{count}", "-i", "{interval}", "-G", "{wait}",
         "-m", "{max_hops}", "{family}", "{address}"),
        protocols={ICMP: (), UDP: ("--udp",), TCP: ("--tcp", "-P", "{port}")},
        with_port={UDP: ("--udp", "-P", "{port}")},
    )},
    parser=lambda address, total: MtrParser(address=address, count=total),
    count=Counting(10, 1.0, MTR_GRACE_S),
    ports=True,
    default_ports={TCP: 80},
    # Its raw records mean nothing to a person: a line per new hop, then mtr --report's table.
    text_view=MtrReport,
    hops=True,
    view="hops",
    silent="???",
    columns=(*HOP_COLUMNS, "history"),  # each hop's recent cycles, from its cycle events
    exports=(ATLAS_TRACEROUTE, MTR_JSON, CSV_HOPS),
    continuous=True,
)

TRACEROUTE = ToolSpec(
    name="traceroute",
    label="traceroute",
    text_route="trace",
    argv={
        # UDP to rising ports is traceroute's own way; -U sends to one port.
        LINUX: Argv(
            "traceroute", ("-n", "{family}", "{protocol}", "-q", "3", "-m", "{max_hops}", "{address}"),
            protocols={UDP: (), ICMP: ("-I",), TCP: ("-T", "-p", "{port}")},
            with_port={UDP: ("-U", "-p", "{port}")},
        ),
        # tracert prints its own format, streamed as lines, and speaks ICMP only.
        WINDOWS: Argv("tracert", ("-d", "-h", "{max_hops}", "{family}", "{address}"), parsed=False),
    },
    parser=lambda address, total: TracerouteParser(),
    ports=True,
    default_ports={TCP: 80},
    aliases=("trace",),
    hops=True,
    view="hops",
    exports=(ATLAS_TRACEROUTE, CSV_HOPS),
)

PING = ToolSpec(
    name="ping",
    label="ping",
    text_route="ping",
    argv={
        # -n: no reverse lookups for ping's own lines; -O: report a missing reply
        # before the next probe, so a lost packet shows while the run goes on.
        LINUX: Argv("ping", ("-n", "-O", "-c", "{count}", "-i", "{interval}", "{family}", "{address}")),
        WINDOWS: Argv("ping", ("-n", "{count}", "{family}", "{address}"), parsed=False),
    },
    parser=lambda address, total: PingParser(count=total),
    count=Counting(4, 1.0),
    view="chart",
    exports=(ATLAS_PING, CSV_REPLIES),
    continuous=True,
)

TRACEPATH = ToolSpec(
    name="tracepath",
    label="tracepath",
    text_route="tracepath",
    # One UDP probe a line, and the path MTU where it drops; iputils' tracepath
    # has no other protocol, and none on Windows.
    argv={LINUX: Argv("tracepath", ("-n", "{family}", "-m", "{max_hops}", "{address}"), protocols={UDP: ()})},
    parser=lambda address, total: TracepathParser(),
    hops=True,
    view="hops",
    silent="no reply",
    columns=("hop", "hosts", "loss_pct", "sent", "last_ms", "avg_ms", "best_ms", "worst_ms", "pmtu", "bar"),
    exports=(ATLAS_TRACEROUTE, CSV_HOPS),
)

# The page's order; the first is the default tool (mtr, as in the original).
TOOLS: tuple[ToolSpec, ...] = (MTR, TRACEROUTE, PING, TRACEPATH)


def tools_for(platform: str = sys.platform, specs: Iterable[ToolSpec] = TOOLS) -> Mapping[str, ToolSpec]:
    """The tools offered on ``platform``, by name, in the page's order."""
    return {spec.name: spec for spec in specs if spec.argv_on(platform) is not None}


def counted(specs: Iterable[ToolSpec], counts: Mapping[str, Counting]) -> list[ToolSpec]:
    """The records with the operator's count and interval (by tool name) where given."""
    return [dataclasses.replace(spec, count=counts[spec.name]) if spec.count is not None and spec.name in counts
            else spec for spec in specs]


def find_tool(tools: Mapping[str, ToolSpec], name: str) -> ToolSpec:
    spec = tools.get(name)
    if spec is None:
        raise UnknownTool(f"there is no tool called {name!r} here")
    return spec


def choose_options(spec: ToolSpec, platform: str, limits: RunLimits, *, protocol: str | None = None,
                   port: str | None = None, count: str | None = None) -> Options:
    """The run's protocol, port and count, from what was asked (None: not given) and
    the tool's defaults; raises BadRequest naming the parameter and why. Pure."""
    argv = spec.argv_on(platform)
    if argv is None:
        raise ToolUnavailable(f"{spec.name} is not offered on this server")
    speaks = list(argv.protocols)
    chosen = speaks[0] if protocol is None or protocol == "" else protocol
    if chosen not in PROTOCOLS:
        raise BadRequest(f"protocol must be {either(PROTOCOLS)}, not {protocol!r}")
    if chosen not in speaks:
        raise BadRequest(f"{spec.name} here cannot send {chosen.upper()} probes: protocol must be {either(speaks)}")
    return Options(chosen, _port(spec, chosen, port), _count(spec, limits, count))


def _port(spec: ToolSpec, protocol: str, text: str | None) -> int | None:
    if text is None or text == "":
        return spec.default_ports.get(protocol)
    if not spec.ports:
        raise BadRequest(f"port means nothing for {spec.name}: leave it out")
    if protocol == ICMP:
        raise BadRequest("port means nothing with ICMP: leave it out, or choose protocol udp or tcp")
    chosen = _whole_number(text, MAX_PORT)
    if chosen is None:
        raise BadRequest(f"port must be a number from 1 to {MAX_PORT}, not {text[:20]!r}")
    return chosen


def _count(spec: ToolSpec, limits: RunLimits, text: str | None) -> int | None:
    counting = spec.count
    if counting is None:
        if text is not None and text != "":
            raise BadRequest(f"count means nothing for {spec.name}: leave it out")
        return None
    if text is None or text == "":
        return counting.default
    chosen = _whole_number(text, limits.max_count)
    if chosen is None:
        raise BadRequest(f"count must be a number from 1 to {limits.max_count}, not {text[:20]!r}")
    took = chosen * counting.interval_s
    if took > limits.timeout_s:
        raise BadRequest(
            f"count {chosen} at one every {counting.interval_s:g} s would take {took:g} s, "
            f"longer than the {limits.timeout_s:g} s a run may last"
        )
    return chosen


TRUE, FALSE = ("true", "1", "on", "yes"), ("false", "0", "off", "no", "")


def choose_continuous(spec: ToolSpec, limits: RunLimits, text: str | None, count: str | None) -> bool:
    """Whether the run goes on until stopped (``continuous=``); raises BadRequest
    naming why not. Pure."""
    if text is None or text.lower() in FALSE:
        return False
    if text.lower() not in TRUE:
        raise BadRequest(f"continuous must be true or false, not {text[:20]!r}")
    if not spec.continuous or spec.count is None:
        raise BadRequest(f"{spec.name} cannot run continuously: continuous=true is for tools that probe again "
                         f"and again, ping and mtr")
    if limits.continuous_max_s <= 0:
        raise BadRequest("continuous runs are turned off on this server (WEBTRACE_CONTINUOUS_MAX=0)")
    if count is not None and count != "":
        raise BadRequest("count means nothing for a continuous run, which goes on until stopped: leave it out")
    return True


def continuous_count(spec: ToolSpec, limits: RunLimits) -> int:
    """The count a continuous run is started with: more probes (or cycles) than fit in
    its most, so that the most, not the count, is what ends it."""
    assert spec.count is not None
    return math.ceil(limits.continuous_max_s / spec.count.interval_s) + 2


def _whole_number(text: str, most: int) -> int | None:
    """``text`` as a number from 1 to ``most``, or None. The length is checked first:
    a number of thousands of digits is refused by ``int`` itself, with a ValueError
    that is no refusal."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(most))):
        return None
    number = int(text)
    return number if 1 <= number <= most else None


def either(words: list[str] | tuple[str, ...]) -> str:
    """``a``, ``a or b``, ``a, b or c``: the choices a refusal names."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" or {words[-1]}"


def _number(value: float) -> str:
    return f"{value:g}"


def build_argv(spec: ToolSpec, ctx: ToolContext, platform: str = LINUX) -> list[str]:
    """The argument vector for one run; ``argv[0]`` is the bare executable name."""
    argv = spec.argv_on(platform)
    if argv is None:
        raise ToolUnavailable(f"{spec.name} is not offered on this server")
    options = ctx.options
    values = {
        "address": ctx.address,
        "count": str(options.count),
        "interval": _number(ctx.interval_s) if ctx.interval_s is not None else "",
        "wait": _number(ctx.wait_s) if ctx.wait_s is not None else "",
        "max_hops": str(ctx.max_hops),
    }
    out = [argv.executable]
    for token in argv.template:
        if token == "{family}":
            out.extend(argv.family_flags.get(ctx.family, ()))
        elif token == "{protocol}":
            out.extend(argv.protocol_flags(options.protocol, options.port))
        elif token.startswith("{"):
            out.append(values[token[1:-1]])
        else:
            out.append(token)
    return out


# (executable, PATH) -> where it was found. A search of PATH is a stat per
# directory, the largest part of checking a request; a hit is only confirmed.
_found: dict[tuple[str, str | None], str] = {}


def locate(spec: ToolSpec, platform: str = LINUX, path: str | None = None) -> str:
    """The executable's full path on PATH, or ToolUnavailable.

    Where it was found is remembered for as long as it is still there; a tool
    not found is looked for again next time, so one installed later is used. A
    wrapper put earlier on PATH while the server runs is used after a restart."""
    argv = spec.argv_on(platform)
    if argv is None:
        raise ToolUnavailable(f"{spec.name} is not offered on this server")
    search = path if path is not None else os.environ.get("PATH")
    key = (argv.executable, search)
    found = _found.get(key)
    if found is not None and os.access(found, os.X_OK):
        return found
    found = shutil.which(argv.executable, path=search)
    if found is None:
        _found.pop(key, None)
        raise ToolUnavailable(f"{spec.name} is not installed on this server")
    _found[key] = found
    return found
