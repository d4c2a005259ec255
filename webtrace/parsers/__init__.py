"""Per-tool parsers: raw lines in, structured events out (see webtrace.events).

Which parser reads which tool is said in the tool's record (webtrace.tools).
"""

from __future__ import annotations

from .mtr import MtrParser
from .ping import PingParser
from .tracepath import TracepathParser
from .traceroute import TracerouteParser

__all__ = ["MtrParser", "PingParser", "TracepathParser", "TracerouteParser"]
