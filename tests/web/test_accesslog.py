"""The access log's flood summary, through a real logger."""

import asyncio
import logging
import re

import pytest

from webtrace.logs import access_text as _access_text
from webtrace.web.accesslog import RefusalSummary


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.changed.set()


def summary_logger(name: str) -> tuple[logging.Logger, Collected]:
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    collected = Collected()
    logger.handlers[:] = [collected]
    return logger, collected


async def test_refusals_are_counted_per_client_and_written_once_a_period() -> None:
    logger, collected = summary_logger("test.summary.period")
    summary = RefusalSummary(logger)
    summary.EVERY_S = 0.05
    for _ in range(3):
        summary.add("198.51.100.7")
    summary.add("2001:db8::9")
    while len(collected.records) < 2:
        collected.changed.clear()
        await asyncio.wait_for(collected.changed.wait(), 2)
    fields = {r.fields["client"]: r.fields for r in collected.records}  # type: ignore[attr-defined]
    assert fields["198.51.100.7"]["refused"] == 3 and fields["2001:db8::9"]["refused"] == 1
    assert all(f["status"] == 429 and f["within_s"] >= 0.05 for f in fields.values())
    assert collected.records[0].getMessage().startswith("client=198.51.100.7 status=429 refused=3 within_s=")
    # A new period starts with the next refusal.
    summary.add("198.51.100.7")
    collected.changed.clear()
    await asyncio.wait_for(collected.changed.wait(), 2)
    assert collected.records[-1].fields["refused"] == 1  # type: ignore[attr-defined]


async def test_flush_writes_what_is_counted_at_once() -> None:
    logger, collected = summary_logger("test.summary.flush")
    summary = RefusalSummary(logger)
    summary.add("198.51.100.7")
    summary.add("198.51.100.7")
    summary.flush()
    [record] = collected.records
    assert record.fields["refused"] == 2  # type: ignore[attr-defined]
    summary.flush()
    assert len(collected.records) == 1


def test_no_value_can_add_a_field_to_a_text_access_line() -> None:
    fields = {"client": "2001:db8::1%x status=500", "method": "GET", "path": "/ping", "status": 200,
              "tool": "ping run=ok", "target": "a' b='c"}
    text = _access_text(fields)
    assert text.startswith("client='2001:db8::1%x status=500' method=GET path='/ping' status=200 ")
    assert "tool='ping run=ok'" in text
    assert "\n" not in _access_text({"client": "a\nb"})
    assert _access_text({"client": "198.51.100.7", "target": "[::1]"}) == "client=198.51.100.7 target='[::1]'"


@pytest.mark.parametrize("value", ["", "GET", "2001:db8::1", "[::1]:8080", "a_b-c.d/e", "café", "١٢", "a b", "a=b",
                                   "x\n", "x\t", "'", "\x00", "ping\u2028run=ok"])
def test_a_value_goes_bare_only_when_made_of_word_characters_and_address_punctuation(value: str) -> None:
    bare = re.fullmatch(r"[\w.:/\[\]-]+", value, re.ASCII) is not None
    assert _access_text({"client": value}) == (f"client={value}" if bare else f"client={value!r}")
