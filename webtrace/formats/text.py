"""The text routes' lines for a run's events (curl, the original webtrace's routes). Pure."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..events import Event, TextView

# C0 and C1 controls but tab: what a terminal would act on (colours, cursor moves,
# a title, a lone CR that rewrites the line so far); and the line and paragraph
# separators, which some readers of text (Python's splitlines) take as line ends.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_TRAILER_WORDS = ("ERROR:", "TIMEOUT:")


class TextLines:
    """What the text routes print for one run's events: the tool's own lines (or its
    text view's, ``view``), and a closing line when the run did not end well."""

    def __init__(self, tool: str, view: TextView | None) -> None:
        self.tool = tool
        self.view = view

    def lines(self, event: Event) -> list[str]:
        out: list[str] = []
        if self.view is not None:
            out.extend(terminal_safe(line) for line in self.view.lines(event))
        elif event.kind == "line":
            out.append(terminal_safe(event.data["text"]))
        if event.kind == "end" and (trailer := text_trailer(self.tool, event.data)):
            out.append(trailer)
        return out


class NodeLines:
    """The text of a run from several nodes: each node's lines as its own run's text
    would be (``per_node``: that text, given the node's name), prefixed ``[name] ``."""

    def __init__(self, per_node: Callable[[str], TextLines]) -> None:
        self.per_node = per_node
        self._texts: dict[str, TextLines] = {}

    def lines(self, event: Event) -> list[str]:
        node = event.data.get("node")
        if event.kind == "done" or not isinstance(node, str):
            return []
        text = self._texts.get(node)
        if text is None:
            text = self._texts[node] = self.per_node(node)
        return [f"[{node}] {line}" for line in text.lines(event)]


def escaped(text: str) -> str:
    """``text`` with what a terminal would act on shown escaped (``\\x1b``), on one line."""
    return _CONTROL.sub(_escape, text)


def _escape(control: re.Match[str]) -> str:
    code = ord(control[0])
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_safe(line: str) -> str:
    """A tool's line for a curl user's terminal: escaped, and never beginning like
    webtrace's own trailer line."""
    line = escaped(line)
    return " " + line if line.startswith(_TRAILER_WORDS) else line


def text_trailer(tool: str, end: dict[str, Any]) -> str | None:
    """The closing line of a text stream that did not end well (the original's
    wording). The sentence may be a node's: it is escaped as a tool's line is."""
    status = end["status"]
    if status == "ok":
        return None
    if status == "timeout":
        return f"TIMEOUT: {escaped(str(end['message']))}"
    if status == "failed" and isinstance(end.get("exit_code"), int) and end["exit_code"] > 0:
        return f"ERROR: {tool} exited with status {end['exit_code']}"
    return f"ERROR: {escaped(str(end['message']))}"
