"""The tools webtrace runs, as data: one argv template per tool and platform.

A template is a tuple of tokens; ``{name}`` tokens are filled from
:class:`ToolContext`, and the special token ``{family}`` expands to the
platform's family flag. Nothing here runs anything: ``build_argv`` is pure.
Executables are looked up on ``PATH`` (see ``locate``), so an operator (or a
test) can put a wrapper first, and a missing tool fails that tool alone.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from .targets import Family


class ToolUnavailable(LookupError):
    """The tool is not installed, or not offered on this platform."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str  # the name in URLs and the page: ping, traceroute, mtr
    executable: str
    template: tuple[str, ...]
    family_flags: Mapping[Family, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class ToolContext:
    address: str
    family: Family  # V4 or V6: the family of ``address``
    ping_count: int
    ping_interval: float
    mtr_count: int
    mtr_interval: float
    max_hops: int


_UNIX_FAMILY = {Family.V4: ("-4",), Family.V6: ("-6",)}

LINUX: Mapping[str, ToolSpec] = {
    # -n: no reverse lookups for ping's own lines; -O: report a missing reply
    # before the next probe, so a lost packet shows while the run goes on.
    "ping": ToolSpec(
        "ping",
        "ping",
        ("-n", "-O", "-c", "{ping_count}", "-i", "{ping_interval}", "{family}", "{address}"),
        _UNIX_FAMILY,
    ),
    "traceroute": ToolSpec(
        "traceroute",
        "traceroute",
        ("{family}", "-q", "3", "-m", "{max_hops}", "{address}"),
        _UNIX_FAMILY,
    ),
    # --raw: one machine-readable record per probe, parsed into the live table.
    "mtr": ToolSpec(
        "mtr",
        "mtr",
        (
            "--raw",
            "-c",
            "{mtr_count}",
            "-i",
            "{mtr_interval}",
            "-m",
            "{max_hops}",
            "{family}",
            "{address}",
        ),
        _UNIX_FAMILY,
    ),
}

# Windows has no mtr; ping and tracert print their own formats, streamed as
# lines (the structured parsers read the Linux tools' output).
WINDOWS: Mapping[str, ToolSpec] = {
    "ping": ToolSpec(
        "ping", "ping", ("-n", "{ping_count}", "{family}", "{address}"), _UNIX_FAMILY
    ),
    "traceroute": ToolSpec(
        "traceroute",
        "tracert",
        ("-h", "{max_hops}", "{family}", "{address}"),
        _UNIX_FAMILY,
    ),
}

PLATFORMS: Mapping[str, Mapping[str, ToolSpec]] = {"linux": LINUX, "win32": WINDOWS}
TOOL_NAMES = ("mtr", "traceroute", "ping")  # the page's order; mtr is the default


def tools_for(platform: str = sys.platform) -> Mapping[str, ToolSpec]:
    """Other Unixes take the Linux definitions: their tools share the flags used here."""
    return PLATFORMS.get(platform, LINUX)


def _number(value: float) -> str:
    return f"{value:g}"


def build_argv(spec: ToolSpec, ctx: ToolContext) -> list[str]:
    """The argument vector for one run; ``argv[0]`` is the bare executable name."""
    values = {
        "address": ctx.address,
        "ping_count": str(ctx.ping_count),
        "ping_interval": _number(ctx.ping_interval),
        "mtr_count": str(ctx.mtr_count),
        "mtr_interval": _number(ctx.mtr_interval),
        "max_hops": str(ctx.max_hops),
    }
    argv = [spec.executable]
    for token in spec.template:
        if token == "{family}":
            argv.extend(spec.family_flags.get(ctx.family, ()))
        elif token.startswith("{"):
            argv.append(values[token[1:-1]])
        else:
            argv.append(token)
    return argv


# (executable, PATH) -> where it was found. A search of PATH is a stat per
# directory, the largest part of checking a request; a hit is only confirmed.
_found: dict[tuple[str, str | None], str] = {}


def locate(spec: ToolSpec, path: str | None = None) -> str:
    """The executable's full path on PATH, or ToolUnavailable.

    Where it was found is remembered for as long as it is still there; a tool
    not found is looked for again next time, so one installed later is used. A
    wrapper put earlier on PATH while the server runs is used after a restart."""
    search = path if path is not None else os.environ.get("PATH")
    key = (spec.executable, search)
    found = _found.get(key)
    if found is not None and os.access(found, os.X_OK):
        return found
    found = shutil.which(spec.executable, path=search)
    if found is None:
        _found.pop(key, None)
        raise ToolUnavailable(f"{spec.name} is not installed on this server")
    _found[key] = found
    return found
