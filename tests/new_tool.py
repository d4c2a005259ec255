"""A tool webtrace does not ship, added as a record and nothing else: ``hello`` runs
the real ``echo`` with the checked address, shown as lines, on the text route
``/hello``. ``python -m tests.new_tool`` serves webtrace with it (for the page's
test in Chromium); takes webtrace's own arguments."""

from __future__ import annotations

from tests.offline_server import serve
from webtrace.tools import LINUX, TOOLS, Argv, ToolSpec

HELLO = ToolSpec(
    name="hello",
    label="hello",
    text_route="hello",
    argv={LINUX: Argv("echo", ("webtrace says hello to", "{address}"), family_flags={})},
)
WITH_HELLO = (*TOOLS, HELLO)


def main() -> None:
    serve(tools=WITH_HELLO)


if __name__ == "__main__":
    main()
