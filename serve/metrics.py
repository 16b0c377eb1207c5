"""``GET /metrics`` in Prometheus text format (prometheus_client), for the engine server and the proxy.

Request counts and latency are recorded by ``ServerMetrics.measure`` (an ASGI wrapper around the
whole app, so 503s of the filter count too); the filter's redactions, the deletion list's version
and age, and the engine's token counts and queue are read at scrape time from their owners.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from starlette.requests import Request
from starlette.responses import Response

from apertus_compliance.filters import InvalidPath, scope_path
from apertus_compliance.serve.output_filter import OutputFilter

LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class _ScrapeTimeCollector:
    """Reads the filter's and the engine's own counters when Prometheus scrapes."""

    def __init__(self, output_filter: OutputFilter, engine=None) -> None:
        self.output_filter = output_filter
        self.engine = engine

    def collect(self):
        snapshot = self.output_filter.metrics.snapshot()
        redactions = CounterMetricFamily(
            "apertus_redactions",
            "Deletion-list and pattern entries redacted from responses, by category",
            labels=["category"],
        )
        for category, count in sorted(snapshot["redactions"].items()):
            redactions.add_metric([category], count)
        yield redactions
        outcomes = CounterMetricFamily(
            "apertus_filter_responses",
            "Responses on filtered paths, by outcome: "
            "filtered, streamed (of which), error (502/503/error event), unavailable "
            "(503, no list), unfiltered (non-strict, no list), disconnect",
            labels=["outcome"],
        )
        for outcome, key in (
            ("filtered", "responses"),
            ("streamed", "streamed_responses"),
            ("error", "errors"),
            ("unavailable", "unavailable"),
            ("unfiltered", "unfiltered"),
            ("disconnect", "disconnects"),
        ):
            outcomes.add_metric([outcome], snapshot[key])
        yield outcomes
        status = self.output_filter.status()
        info = InfoMetricFamily("apertus_deletion_list", "The deletion list in use (version empty when none)")
        info.add_metric([], {"version": str(status.get("version") or ""), "strict": str(status["strict"]).lower()})
        yield info
        if status.get("age_seconds") is not None:
            yield GaugeMetricFamily(
                "apertus_deletion_list_age_seconds",
                "Seconds since the list in use was built",
                value=status["age_seconds"],
            )
            yield GaugeMetricFamily(
                "apertus_deletion_list_entries", "Entries in the list in use", value=status["entries"]
            )
        if self.engine is not None:
            stats = dict(self.engine.stats)
            tokens = CounterMetricFamily("apertus_tokens", "Tokens processed by the engine", labels=["kind"])
            tokens.add_metric(["prompt"], stats.get("prompt_tokens", 0))
            tokens.add_metric(["completion"], stats.get("completion_tokens", 0))
            yield tokens
            yield CounterMetricFamily(
                "apertus_engine_cancelled_requests",
                "Requests dropped because the client left",
                value=stats.get("cancelled", 0),
            )
            load = self.engine.load_report()
            yield GaugeMetricFamily(
                "apertus_engine_active_requests", "Requests in the decoding batch", value=load["active"]
            )
            yield GaugeMetricFamily(
                "apertus_engine_waiting_requests", "Requests queued for the batch", value=load["waiting"]
            )


class ServerMetrics:
    """One registry per app (never the process-global one), so two servers in a process do not mix."""

    def __init__(self, output_filter: OutputFilter, engine=None, *, paths: tuple[str, ...] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.paths = frozenset(paths)
        self.requests = Counter(
            "apertus_requests", "HTTP requests answered, by path and status", ["path", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "apertus_request_duration_seconds",
            "Time from request to the end of the response (whole stream), by path",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.first_token = Histogram(
            "apertus_time_to_first_token_seconds",
            "Engine: from submission to the first generated token",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_ScrapeTimeCollector(output_filter, engine))

    def measure(self, app: Callable) -> Callable:
        """Wrap ``app`` so every HTTP request is counted with its status and timed."""

        async def measured(scope, receive, send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            try:
                path = scope_path(scope)  # the form the filter decides on, so variants count as one path
            except InvalidPath:
                path = ""
            label = path if path in self.paths else "other"
            started, status = time.monotonic(), 500

            async def send_recording(message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_recording)
            finally:
                self.requests.labels(label, str(status)).inc()
                self.latency.labels(label).observe(time.monotonic() - started)

        return measured

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
