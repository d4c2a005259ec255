"""Per-tool parsers: raw lines in, structured events out (see webtrace.events)."""

from __future__ import annotations

from ..events import NullParser, Parser
from .mtr import MtrParser
from .ping import PingParser
from .traceroute import TracerouteParser


def parser_for(tool: str, *, address: str, count: int, platform: str = "linux") -> Parser:
    """The parser for ``tool``'s output; Windows output is streamed as lines only."""
    if platform == "win32":
        return NullParser()
    if tool == "ping":
        return PingParser(count=count)
    if tool == "traceroute":
        return TracerouteParser()
    if tool == "mtr":
        return MtrParser(address=address, count=count)
    return NullParser()


__all__ = ["MtrParser", "PingParser", "TracerouteParser", "parser_for"]
