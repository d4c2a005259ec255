"""The relay's own logic: a node's stream cut into whole SSE frames, in linear time,
the lines of each ended by LF whichever line end the node used."""

from __future__ import annotations

import time

import pytest

from webtrace.events import Event
from webtrace.nodes.relay import Frames, _events


async def test_item_9_a_node_writing_in_small_pieces_costs_the_front_what_one_writing_at_once_does() -> None:
    big = b"event: line\r\ndata: {\"text\": \"" + b"x" * (1024 * 1024 - 8192) + b"\"}\r\n\r\n"

    def cost(pieces: list[bytes]) -> float:
        best = float("inf")
        for _ in range(3):
            frames = Frames()
            began = time.process_time()
            got = [frame for piece in pieces for frame in frames.feed(piece)]
            best = min(best, time.process_time() - began)
            assert got == [big[:-4].replace(b"\r\n", b"\n")]
        return best

    whole = cost([big])
    pieces = cost([big[i:i + 4096] for i in range(0, len(big), 4096)])
    # Linear: a few times the cost of one copy. Searching all of what waited at each
    # piece, as the relay once did, cost about a hundred times more.
    assert pieces < 10 * whole + 0.02, (pieces, whole)


def test_frames_are_found_across_pieces_whatever_the_separator() -> None:
    for end in (b"\r\n", b"\n", b"\r"):
        stream = b"".join(b"event: line" + end + b"data: %d" % n + end + end for n in range(50))
        for size in (1, 2, 3, 5, 7, len(stream)):
            frames = Frames()
            got = [f for i in range(0, len(stream), size) for f in frames.feed(stream[i:i + size])]
            assert got == [b"event: line\ndata: %d" % n for n in range(50)], (end, size)
    # A CR that ends a piece, then LF: one line's end (CRLF), not a line's and an empty line's.
    frames = Frames()
    assert frames.feed(b"event: line\r") == [] and frames.feed(b"\ndata: 1\r") == []
    assert frames.feed(b"\n\r\n") == [b"event: line\ndata: 1"]
    # A CR alone ends its line at once: an event ended by CR CR is whole without waiting for more.
    assert Frames().feed(b"data: 2\r\r") == [b"data: 2"]
    with pytest.raises(ValueError, match="too long"):
        Frames(max_bytes=10).feed(b"x" * 11)


def test_a_frame_is_read_alike_however_its_lines_are_laid_out() -> None:
    line = b'data: {"text": "x"}'
    laid_out = [
        b"event: line\n" + line,  # as webtrace writes one, but for its id
        b"id: 7\nevent: line\n" + line,  # as webtrace writes one
        b": a comment\nevent: line\n" + line,
        b"event: line\nid: 7\nretry: 10\n" + line,
        line + b"\nevent: line",
        b"event: done\nevent: line\ndata: {}\n" + line,  # the last of each field counts
    ]
    for frame in laid_out:
        events, ended = _events([frame], "n1")
        assert events == [Event("line", {"text": "x", "node": "n1"})] and not ended, frame
    skipped = [b"event: line", line, b"event: lines\n" + line, b"event:line\n" + line, b"event: line\ndata:" + line[6:],
               b"id: 7\nevent: done\n" + line]
    for frame in skipped:
        assert _events([frame], "n1") == ([], False), frame
