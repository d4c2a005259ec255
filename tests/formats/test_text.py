"""The text routes' lines, as pure functions of events: a tool's own lines made safe for
a terminal, the closing line of a run that did not end well, and ``[node] `` prefixes."""

from __future__ import annotations

from webtrace.events import Event, done_event, end_event, start_event
from webtrace.formats.mtr_report import MtrReport
from webtrace.formats.text import NodeLines, TextLines, escaped, terminal_safe, text_trailer


def test_a_tool_s_lines_reach_a_terminal_escaped_and_never_as_webtrace_s_own() -> None:
    assert escaped("a\x1b[31mred\rline\u2028") == "a\\x1b[31mred\\x0dline\\u2028"
    assert terminal_safe("ERROR: forged") == " ERROR: forged"
    assert terminal_safe("\tok") == "\tok"


def test_the_closing_line_says_how_a_run_did_not_end_well() -> None:
    assert text_trailer("ping", end_event("ok", "done", duration_s=1.0, exit_code=0).data) is None
    assert text_trailer("ping", end_event("failed", "x", duration_s=1.0, exit_code=2).data) == \
        "ERROR: ping exited with status 2"
    assert text_trailer("ping", end_event("timeout", "ran out\x1b", duration_s=30.0).data) == \
        "TIMEOUT: ran out\\x1b"
    assert text_trailer("mtr", end_event("refused", "denied", duration_s=0.0, code="target_denied").data) == \
        "ERROR: denied"


def test_several_nodes_each_print_as_their_own_run_would_prefixed_by_name() -> None:
    text = NodeLines(lambda node: TextLines("ping", None))
    unavailable = end_event("unavailable", "Node b is unavailable", duration_s=1.0)
    events = [
        Event("line", {"text": "64 bytes", "node": "a"}),
        Event("line", {"text": "64 bytes", "node": "b"}),
        Event("end", {**unavailable.data, "node": "b"}),
        done_event("partial", {"a": "ok", "b": "unavailable"}),
    ]
    lines = [line for event in events for line in text.lines(event)]
    assert lines == ["[a] 64 bytes", "[b] 64 bytes", "[b] ERROR: Node b is unavailable"]


def test_a_part_that_never_began_prints_its_error_and_no_report() -> None:
    report = TextLines("mtr", MtrReport("lon1", 0.0))
    never = start_event(tool="mtr", target="x", address=None, family=None, protocol="icmp", port=None, count=3,
                        command=None, result=None)
    out = report.lines(never) + report.lines(end_event("refused", "denied here", duration_s=0.0))
    assert out == ["ERROR: denied here"]
