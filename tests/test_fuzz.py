"""schemathesis against a real server: every generated request gets an answer the
API's description allows, never a 5xx, and a request refused with 4xx starts no
process.

The server's tools are recorders (they note that they were started and probe
nothing), and its names resolve from a table (tests.offline_server), so no
generated target can send a packet or a DNS query anywhere. Bounded by
WEBTRACE_FUZZ_EXAMPLES per operation (``make fuzz`` raises it).

Every check schemathesis has runs but one: "a request the document allows is
accepted". A target is free text whose meaning the document cannot give (it
is a name to resolve, an address to judge by the server's policy), so a
well-formed request is rightly refused with 400, 403 or 422; what such a
refusal may look like is what the document describes, and is checked.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from hypothesis import HealthCheck, given, settings

from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.helpers import FAKES
from tests.server import ServerProcess, server_process

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("WEBTRACE_FUZZ_EXAMPLES", "150"))


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    record = tmp / "started"
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for tool in ("ping", "traceroute", "mtr", "tracepath"):
        fake = bin_dir / tool
        fake.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKES / 'recorder.py'} \"$@\"\n")
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "WEBTRACE_TEST_RECORD": str(record),
        "WEBTRACE_RATELIMIT": "1000000/minute",
        "WEBTRACE_MAX_JOBS_PER_CLIENT": "50",
    }
    with server_process(tmp, env, unix=False, module="tests.offline_server") as server:
        yield server, record


@pytest.fixture(scope="module")
def api(fuzzed: tuple[ServerProcess, Path]) -> schemathesis.BaseSchema:
    server, _ = fuzzed
    return schemathesis.openapi.from_url(f"{server.base}/api/v1/openapi.json")


def started(record: Path) -> int:
    return record.read_text().count("\n") if record.exists() else 0


def operations(api: schemathesis.BaseSchema) -> list[schemathesis.APIOperation]:
    found = []
    for result in api.get_all_operations():
        assert isinstance(result, Ok), result  # the document describes every operation validly
        found.append(result.ok())
    return found


def test_every_answer_is_one_the_document_allows(
    api: schemathesis.BaseSchema, fuzzed: tuple[ServerProcess, Path]
) -> None:
    server, record = fuzzed
    fuzzed_operations = operations(api)
    assert len(fuzzed_operations) >= 9

    calls = 0
    for operation in fuzzed_operations:
        # Well-formed requests, and ones that break the document (which must be 4xx).
        cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=cases)
        def fuzz(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            before = started(record)
            response = case.call_and_validate(timeout=30, excluded_checks=[positive_data_acceptance])
            if 400 <= response.status_code < 500:
                assert started(record) == before, f"{case.method} {case.formatted_path} was refused but started a tool"
            assert server.process.poll() is None  # still serving

        fuzz()
    assert calls >= len(fuzzed_operations) * min(EXAMPLES, 10)
    assert started(record) > 0  # well-formed runs did start their (recording) tool
