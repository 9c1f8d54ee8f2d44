"""The process's Prometheus instruments (prometheus-client), in one place.

Counters and histograms updated as things happen live in prometheus-client's default
registry (one per process); figures read from the database at scrape time (projector
positions, lags and failures) and pool usage come from `ScrapeCollector`, one per app,
filled by GET /metrics just before it renders (chatalot/api/metrics.py). HTTP requests are
counted by Litestar's Prometheus middleware (per route template, method and status), in
the leaner form of `RouteMetrics`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.types import Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "chatalot"

EVENT_APPENDS = Counter(
    f"{PREFIX}_event_appends", "Append statements written to the event log (one batch each)")
EVENTS_APPENDED = Counter(
    f"{PREFIX}_events_appended", "Events written to the event log")
APPEND_SECONDS = Histogram(
    f"{PREFIX}_event_append_seconds", "Duration of one append statement",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
COMMANDS = Counter(
    f"{PREFIX}_commands", "Commands run, by name and outcome (ok, refused, error)",
    ["command", "outcome"])
COMMAND_SECONDS = Histogram(
    f"{PREFIX}_command_seconds", "Duration of a command's transaction(s), retries included",
    ["command"])
RATE_LIMITED = Counter(
    f"{PREFIX}_rate_limited", "Requests refused 429 by the per-address rate limits",
    ["bucket"])
# The WebSocket gateway updates these two (chatalot/ws/connection.py).
WS_CONNECTIONS = Gauge(f"{PREFIX}_ws_connections", "WebSocket connections open on this node")
WS_FRAMES_SENT = Counter(f"{PREFIX}_ws_frames_sent", "WebSocket frames sent by this node")
# chatalot/ws/hub.py: the live feed remembers channel memberships between batches
WS_MEMBERSHIP_QUESTIONS = Counter(
    f"{PREFIX}_ws_membership_questions",
    "Questions the gateway's live feed asked the channel_members table")


def observe_append(events: int, seconds: float) -> None:
    """The event store's append hook (EventStore.on_append)."""
    EVENT_APPENDS.inc()
    EVENTS_APPENDED.inc(events)
    APPEND_SECONDS.observe(seconds)


class RouteMetrics(PrometheusMiddleware):
    """Litestar's Prometheus middleware, the same series for less work a request (it was
    about 5 % of the server's busy samples under 16 senders): the labels come from the
    scope (Litestar's builds a Request and parses its URL, whose path `group_path` then
    discards), and each label set's children are looked up once, not per request (the
    error counter's only for an error, as Litestar's). Extra labels and exemplars take
    Litestar's own code (http_config sets neither). tests/app/test_route_metrics.py holds
    the two to the same series."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._in_progress: dict[tuple[str, str], Any] = {}

    def _labels(self, method: str, path: str, status: int) -> dict[str, str | int | float]:
        return {"method": method, "path": path, "status_code": status,
                "app_name": self._config.app_name}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self._config
        if config.labels or config.exemplars or not config.group_path:
            await super().__call__(scope, receive, send)
            return
        fields: Any = scope  # HTTP or WebSocket
        method = fields["method"] if fields["type"] == "http" else fields["type"]
        if config.excluded_http_methods and method in config.excluded_http_methods:
            await self.app(scope, receive, send)
            return
        path = fields["path_template"]
        in_progress = self._in_progress.get((method, path))
        if in_progress is None:
            labels = self._labels(method, path, 200)
            in_progress = self._in_progress[(method, path)] = self.requests_in_progress(
                labels).labels(*labels.values())
        start = time.perf_counter()
        span = [200, 0.0]  # status, duration

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                span[0] = message["status"]
            elif message["type"] == "http.response.body":
                span[1] = time.perf_counter() - start
            await send(message)

        in_progress.inc()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            in_progress.dec()
            status = int(span[0])
            children = self._children.get((method, path, status))
            if children is None:
                labels = self._labels(method, path, status)
                values = [*labels.values()]
                children = self._children[(method, path, status)] = (
                    self.request_count(labels).labels(*values),
                    self.request_time(labels).labels(*values))
            if status >= 500:  # rare: looked up each time, as Litestar does
                labels = self._labels(method, path, status)
                self.requests_error_count(labels).labels(*labels.values()).inc()
            children[0].inc()
            children[1].observe(span[1])


def http_config() -> PrometheusConfig:
    """Litestar's middleware: requests, latency and in-progress per route template (never
    the raw path: ids would make a series per user), method and status."""
    return PrometheusConfig(app_name=PREFIX, prefix=PREFIX, group_path=True,
                            middleware_class=RouteMetrics,
                            # /ws: a socket's "request" lasts its lifetime (our own
                            # gauges count sockets and frames), and the middleware
                            # would wrap every frame the gateway sends
                            exclude=["^/metrics$", "^/ws$"],
                            buckets=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5])


@dataclass(frozen=True)
class ProjectorFigures:
    name: str
    position: int  # the global sequence of the last event applied (0 before any)
    lag_events: int
    lag_seconds: float
    failures: int
    failed: bool


@dataclass
class Snapshot:
    projectors: list[ProjectorFigures] = field(default_factory=list)
    pool: dict[str, int] = field(default_factory=dict)


class ScrapeCollector(Collector):
    """Figures read at scrape time, for one app's services."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        yield from _projector_metrics(snap.projectors)
        size = GaugeMetricFamily(f"{PREFIX}_db_pool_connections",
                                 "Database pool connections by state", labels=["state"])
        stats = snap.pool
        in_use = stats.get("pool_size", 0) - stats.get("pool_available", 0)
        size.add_metric(["open"], stats.get("pool_size", 0))
        size.add_metric(["in_use"], max(in_use, 0))
        size.add_metric(["idle"], stats.get("pool_available", 0))
        yield size
        yield GaugeMetricFamily(f"{PREFIX}_db_pool_max", "Largest the pool may grow",
                                value=stats.get("pool_max", 0))
        yield GaugeMetricFamily(f"{PREFIX}_db_pool_waiting",
                                "Requests waiting for a pooled connection now",
                                value=stats.get("requests_waiting", 0))
        yield CounterMetricFamily(f"{PREFIX}_db_pool_timeouts",
                                  "Requests that waited too long for a connection (503)",
                                  value=stats.get("requests_errors", 0))


def _projector_metrics(items: Iterable[ProjectorFigures]) -> Iterator[Metric]:
    position = GaugeMetricFamily(f"{PREFIX}_projection_position",
                                 "Global sequence of the last event the projector applied",
                                 labels=["projector"])
    lag = GaugeMetricFamily(f"{PREFIX}_projection_lag_events",
                            "Events readable in the log that the projector has not applied",
                            labels=["projector"])
    lag_secs = GaugeMetricFamily(f"{PREFIX}_projection_lag_seconds",
                                 "Age of the oldest event the projector has not applied",
                                 labels=["projector"])
    failures = CounterMetricFamily(f"{PREFIX}_projection_failures",
                                   "Failed batches of the projector (all builds)",
                                   labels=["projector"])
    failed = GaugeMetricFamily(f"{PREFIX}_projection_failed",
                               "1 while the projector is stopped by a failing event",
                               labels=["projector"])
    for item in items:
        position.add_metric([item.name], item.position)
        lag.add_metric([item.name], item.lag_events)
        lag_secs.add_metric([item.name], item.lag_seconds)
        failures.add_metric([item.name], item.failures)
        failed.add_metric([item.name], 1 if item.failed else 0)
    yield from (position, lag, lag_secs, failures, failed)
