"""A run here as a source of events: what its result is told before it runs, its
events to the end, and, when its visitor leaves, its group gone and its end said."""

from __future__ import annotations

from tests.runs.support import here, query
from webtrace.events import Event
from webtrace.process.runner import ProcessRunner
from webtrace.runs.source import local_run


async def test_a_local_run_tells_its_result_what_it_runs_then_runs_to_its_end() -> None:
    runner = ProcessRunner(1)
    source = await local_run(query("ping", "127.0.0.1"), here(runner))
    about = source.about()
    assert about["tool"] == "ping" and about["address"] == "127.0.0.1" and "result" not in about
    events: list[Event] = []

    async def emit(batch: list[Event]) -> None:
        events.extend(batch)

    await source.run(emit, "R1")
    source.close()
    assert events[0].data["result"] == "R1" and events[-1].kind == "end"
    assert source.ended() == ("ok", 0) and runner.active == 0
    await runner.shutdown()


async def test_a_run_whose_visitor_left_is_ended_and_says_so() -> None:
    runner = ProcessRunner(1)
    source = await local_run(query("ping", "127.0.0.1"), here(runner))
    source.close()
    assert source.abandoned().data["status"] == "cancelled" and runner.active == 0
    await runner.shutdown()
