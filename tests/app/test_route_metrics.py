"""RouteMetrics (chatalot/metrics.py) gives the same request series as Litestar's own
Prometheus middleware, which it replaces for speed: for any sequence of requests, two apps
that differ only in the middleware class count the same requests, errors, latencies and
requests in progress per method, route template and status."""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from chatalot.metrics import RouteMetrics

SERIES = ("requests_total", "requests_error_total", "request_duration_seconds_count",
          "request_duration_seconds_bucket", "requests_in_progress")
_apps = itertools.count()


@get("/items/{item_id:int}")
async def item(item_id: FromPath[int]) -> dict[str, int]:
    if item_id == 0:
        raise RuntimeError("boom")  # a 500
    if item_id == 404:
        raise NotFoundException("no such item")
    return {"id": item_id}


@get("/slow")
async def slow() -> str:
    await asyncio.sleep(0.06)  # always above the first bucket: its duration is measured
    return "ok"


def app_with(middleware: type[PrometheusMiddleware], prefix: str) -> Litestar:
    config = PrometheusConfig(app_name=prefix, prefix=prefix, group_path=True,
                              middleware_class=middleware,
                              buckets=[0.05, 60.0])
    return Litestar([item, slow], middleware=[config.middleware], debug=False)


def series(prefix: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The request series of one app, keyed without the prefix and its app_name label.
    Durations differ between runs: a fast route's first bucket (50 ms) is left out, /slow
    never lands in it, and every request lands in the second (60 s)."""
    found = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if not sample.name.startswith(prefix + "_"):
                continue
            name = sample.name[len(prefix) + 1:]
            if name not in SERIES:
                continue
            if (name == "request_duration_seconds_bucket" and sample.labels["le"] == "0.05"
                    and sample.labels["path"] != "/slow"):
                continue
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "app_name"))
            found[(name, labels)] = sample.value
    return found


def forget(*prefixes: str) -> None:
    """Unregister the example's metrics: the process's registry is what other tests'
    GET /metrics renders, and Litestar keeps its metrics by name for the process too."""
    for name, metric in list(PrometheusMiddleware._metrics.items()):
        if name.startswith(prefixes):
            REGISTRY.unregister(metric)
            del PrometheusMiddleware._metrics[name]


requests = st.lists(st.sampled_from(["/items/1", "/items/2", "/items/404", "/items/0",
                                     "/slow", "/nowhere"]), min_size=1, max_size=12)


@given(paths=requests)
async def test_the_series_are_litestars(paths: list[str]) -> None:
    n = next(_apps)
    ours, theirs = f"routemetrics_ours_{n}", f"routemetrics_litestar_{n}"
    try:
        for middleware, prefix in ((RouteMetrics, ours), (PrometheusMiddleware, theirs)):
            async with AsyncTestClient(app_with(middleware, prefix)) as client:
                for path in paths:
                    await client.get(path)
        mine, reference = series(ours), series(theirs)
    finally:
        forget(ours, theirs)
    assert mine == reference
    total = sum(v for (name, _), v in mine.items() if name == "requests_total")
    assert total == sum(1 for p in paths if p != "/nowhere")  # no route: no middleware
    assert all(v == 0 for (name, _), v in mine.items() if name == "requests_in_progress")
    errors = sum(v for (name, _), v in mine.items() if name == "requests_error_total")
    assert errors == paths.count("/items/0")
