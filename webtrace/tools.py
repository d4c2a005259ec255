"""The tools webtrace runs, each as one record: everything about a tool is here.

A :class:`ToolSpec` holds a tool's argv per platform (with the protocols each
platform's tool speaks), the options it takes (protocol, port, count), its
parser, its text view, the settings that give its count and interval, its
route in the original webtrace and its label. Routes, the page's tool list,
the options' checks, the text sink and the choice of parser all read these
records, so a new tool is a new record (see ``TOOLS``), not an edit in every
room.

An argv template is a tuple of tokens; ``{name}`` tokens are filled from
:class:`ToolContext`, and the special tokens ``{family}`` and ``{protocol}``
expand to the platform's flags for the family and the protocol. Nothing here runs anything: ``build_argv`` is pure.
Executables are looked up on ``PATH`` (see ``locate``), so an operator (or a
test) can put a wrapper first, and a missing tool fails that tool alone.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .events import PROTOCOLS, Parser, TextView
from .net.targets import Family
from .parsers import MtrParser, PingParser, TracerouteParser
from .parsers.mtr_report import MtrReport
from .refusals import Refusal

LINUX = "linux"
WINDOWS = "win32"
ICMP, UDP, TCP = PROTOCOLS


class ToolUnavailable(Refusal, LookupError):
    """The tool is not installed on this server (or not offered on its platform)."""

    status = 503
    code = "tool_unavailable"


@dataclass(frozen=True, slots=True)
class Options:
    """What a visitor chose for one run, checked (see ``jobs.choose_options``)."""

    protocol: str  # one of PROTOCOLS
    port: int | None  # None: the tool's own
    count: int | None  # probes (ping) or cycles (mtr); None for a tool that takes none


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What an argv template and a parser may be filled from, for one run."""

    address: str
    family: Family  # V4 or V6: the family of ``address``
    options: Options
    ping_interval: float
    mtr_interval: float
    max_hops: int


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
    # The Settings fields that give its default count (probes or cycles; also the
    # progress total) and the seconds between them; None: it takes no count.
    count: str | None = None
    interval: str | None = None
    ports: bool = False  # whether a port can be chosen (with a protocol other than ICMP)
    default_ports: Mapping[str, int] = field(default_factory=dict)  # e.g. TCP: 80
    aliases: tuple[str, ...] = ()  # other names the original's page links use (?action=trace)
    # What the text routes print, given the server's name and when the run began;
    # None: the tool's own lines.
    text_view: Callable[[str, float], TextView] | None = None
    # Whether its parser tells hop rows, which get names, AS and country (webtrace.hops).
    hops: bool = False

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


MTR = ToolSpec(
    name="mtr",
    label="mtr",
    text_route="mtr",
    # --raw: one machine-readable record per probe, parsed into the live table.
    # --no-dns here and -n for traceroute: webtrace looks names up itself
    # (webtrace.hops), so a slow PTR answer never holds a probe back.
    argv={LINUX: Argv(
        "mtr",
        ("--raw", "--no-dns", "{protocol}", "-c", "{count}", "-i", "{mtr_interval}", "-m", "{max_hops}",
         "{family}", "{address}"),
        protocols={ICMP: (), UDP: ("--udp",), TCP: ("--tcp", "-P", "{port}")},
        with_port={UDP: ("--udp", "-P", "{port}")},
    )},
    parser=lambda address, total: MtrParser(address=address, count=total),
    count="mtr_count",
    interval="mtr_interval",
    ports=True,
    default_ports={TCP: 80},
    # Its raw records mean nothing to a person: a line per new hop, then mtr --report's table.
    text_view=MtrReport,
    hops=True,
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
)

PING = ToolSpec(
    name="ping",
    label="ping",
    text_route="ping",
    argv={
        # -n: no reverse lookups for ping's own lines; -O: report a missing reply
        # before the next probe, so a lost packet shows while the run goes on.
        LINUX: Argv("ping", ("-n", "-O", "-c", "{count}", "-i", "{ping_interval}", "{family}", "{address}")),
        WINDOWS: Argv("ping", ("-n", "{count}", "{family}", "{address}"), parsed=False),
    },
    parser=lambda address, total: PingParser(count=total),
    count="ping_count",
    interval="ping_interval",
)

# The page's order; the first is the default tool (mtr, as in the original).
TOOLS: tuple[ToolSpec, ...] = (MTR, TRACEROUTE, PING)


def tools_for(platform: str = sys.platform, specs: Iterable[ToolSpec] = TOOLS) -> Mapping[str, ToolSpec]:
    """The tools offered on ``platform``, by name, in the page's order."""
    return {spec.name: spec for spec in specs if spec.argv_on(platform) is not None}


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
        "ping_interval": _number(ctx.ping_interval),
        "mtr_interval": _number(ctx.mtr_interval),
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
