"""The values ``WEBTRACE_*`` variables hold, each with its parser: numbers in a
range, choices, paths, storage URIs, the list of other nodes. Each parser raises
ValueError with what the value must be; ``webtrace.settings`` names the variable."""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import limits


def int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def float_between(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return value

    return parse


def origins(text: str) -> tuple[str, ...]:
    origins = tuple(part.strip() for part in text.split(",") if part.strip())
    for origin in origins:
        if not origin.startswith(("https://", "http://")) or any(
            c in origin for c in " ;'\""
        ):
            raise ValueError(f"{origin!r} is not an origin such as https://example.net")
    return origins


def ratelimit(text: str) -> str:
    limits.parse_many(text)  # raises ValueError on bad syntax
    return text


def storage_uri(text: str) -> str:
    scheme = text.partition("://")[0]
    if not scheme or "://" not in text:
        raise ValueError("must be a limits storage URI such as memory:// or redis://host:6379")
    # The async limiter needs the async flavour of every storage; operators
    # write the plain URI they know from the limits documentation.
    return text if scheme.startswith("async+") else f"async+{text}"


def choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def log_level(text: str) -> str:
    level = text.strip().upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def optional_text(text: str) -> str | None:
    return text.strip() or None


def optional_dir(text: str) -> Path | None:
    if not text.strip():
        return None
    path = Path(text).expanduser()
    if not path.is_dir():
        raise ValueError(f"{path} is not a directory")
    return path


def optional_path(text: str) -> Path | None:
    return Path(text).expanduser() if text.strip() else None


def results_uri(text: str) -> str:
    value = text.strip()
    if value in ("", "off", "memory://"):
        return value
    scheme, sep, rest = value.partition("://")
    if scheme == "sqlite" and sep and rest.startswith("/") and len(rest) > 1:
        return value
    if scheme in ("redis", "rediss", "redis+unix") and sep and rest:
        return value
    raise ValueError("must be sqlite:///PATH, memory://, redis://host:6379 or off")


_NODE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,30}[a-z0-9])?", re.ASCII)


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """Another webtrace this one can run from (WEBTRACE_NODES)."""

    name: str
    url: str  # its base URL, without a trailing slash: http(s)://host[:port][/path]


def node_name(text: str) -> str:
    name = text.strip().lower()
    if name and _NODE_NAME.fullmatch(name) is None:
        raise ValueError("must be up to 32 letters, digits, '.', '-' or '_', such as fra1")
    return name


def node_list(text: str) -> tuple[NodeSpec, ...]:
    nodes: list[NodeSpec] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, url = part.partition("=")
        if not sep:
            raise ValueError(f"{part!r} is not name=URL, such as fra1=https://fra1.lg.example.net")
        name = node_name(name)
        if not name:
            raise ValueError(f"{part!r} has no name before '='")
        parsed = urllib.parse.urlsplit(url.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query or parsed.fragment:
            raise ValueError(f"{url.strip()!r} is not a base URL such as https://fra1.lg.example.net")
        if any(n.name == name for n in nodes):
            raise ValueError(f"the name {name!r} is given twice")
        nodes.append(NodeSpec(name, url.strip().rstrip("/")))
    return tuple(nodes)


def setting(env: str, parse: Callable[[str], Any], doc: str, default: Any) -> Any:
    return field(default=default, metadata={"env": env, "parse": parse, "doc": doc})
