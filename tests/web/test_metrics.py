"""Prometheus metrics: runs started and ended by outcome, refusals by reason, runs now."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from webtrace.events import Outcome
from webtrace.web.metrics import Metrics


def samples(metrics: Metrics, active: int = 0) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = metrics.render(active)
    assert content_type.startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_runs_refusals_and_active_runs() -> None:
    metrics = Metrics()
    for _ in range(3):
        metrics.started("mtr")
    metrics.ended("mtr", Outcome("ok", 0, 1.5, "mtr finished"))
    metrics.ended("mtr", Outcome("cancelled", None, 0.0, "mtr was stopped: the client went away"))
    for _ in range(4):
        metrics.refused("rate_limited")
    got = samples(metrics, active=1)
    assert got[("webtrace_runs_started_total", (("tool", "mtr"),))] == 3
    assert got[("webtrace_runs_total", (("status", "ok"), ("tool", "mtr")))] == 1
    assert got[("webtrace_runs_total", (("status", "cancelled"), ("tool", "mtr")))] == 1
    assert got[("webtrace_refused_total", (("reason", "rate_limited"),))] == 4
    assert got[("webtrace_run_duration_seconds_count", (("tool", "mtr"),))] == 2
    assert got[("webtrace_active_runs", ())] == 1


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.started("ping")
    assert ("webtrace_runs_started_total", (("tool", "ping"),)) not in samples(second)
