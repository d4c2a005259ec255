"""Prometheus metrics, one registry per application (tests build many apps)."""

from __future__ import annotations

from aiohttp import web
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from ..events import Outcome

if TYPE_CHECKING:
    from prometheus_client import Metric

    from ..results.recorder import Results


M = TypeVar("M", Counter, Histogram)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._runs = Counter(
            "webtrace_runs", "Runs that ended, by tool and status", ["tool", "status"],
            registry=self.registry,
        )
        self._started = Counter(
            "webtrace_runs_started", "Runs started, by tool", ["tool"], registry=self.registry
        )
        self._refused = Counter(
            "webtrace_refused", "Requests refused before a run, by reason", ["reason"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "webtrace_run_duration_seconds", "How long runs lasted", ["tool"],
            buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120), registry=self.registry,
        )
        # Each labelled child looked up once: labels() takes a lock and checks its
        # arguments, and every run came through here three times.
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._active = Gauge("webtrace_active_runs", "Runs in progress", registry=self.registry)
        # process_open_fds beside process_max_fds among them: how near the server is to
        # dropping connections for want of descriptors.
        ProcessCollector(registry=self.registry)

    def started(self, tool: str) -> None:
        self._child(self._started, tool).inc()

    def ended(self, tool: str, outcome: Outcome) -> None:
        self._child(self._runs, tool, outcome.status).inc()
        self._child(self._duration, tool).observe(outcome.duration_s)

    def refused(self, reason: str) -> None:
        self._child(self._refused, reason).inc()  # a flood comes through here

    def _child(self, metric: M, *labels: str) -> M:
        key = (id(metric), labels)
        child: M | None = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def watch_results(self, results: Results) -> None:
        self.registry.register(_ResultsCollector(results))

    def render(self, active: int) -> tuple[bytes, str]:
        self._active.set(active)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


METRICS: web.AppKey[Metrics] = web.AppKey("metrics")


class _ResultsCollector(Collector):
    """The result store's figures, read as they are when scraped."""

    def __init__(self, results: Results) -> None:
        self.results = results

    def collect(self) -> Iterator[Metric]:
        figures = self.results.figures()
        yield CounterMetricFamily("webtrace_results_written", "Result writes stored (one per result per flush)",
                                  value=figures.written)
        yield CounterMetricFamily("webtrace_results_write_failures", "Flushes the store refused",
                                  value=figures.write_failures)
        yield CounterMetricFamily("webtrace_results_expired", "Results removed after WEBTRACE_RESULTS_TTL",
                                  value=figures.expired)
        yield GaugeMetricFamily("webtrace_results_recording", "Runs being recorded now", value=figures.recording)
        yield GaugeMetricFamily("webtrace_results_followers", "Followers of results now", value=figures.followers)
        yield GaugeMetricFamily("webtrace_results_store_failing", "1 while the store refuses writes or reads",
                                value=1 if figures.failing else 0)
