"""GET /metrics: the Prometheus scrape, behind a bearer token of its own.

Unset CHATALOT_METRICS_TOKEN and the route answers 404, as if it did not exist; the compose
file's nginx also refuses /metrics from outside (Prometheus scrapes each node directly).
"""

from __future__ import annotations

import contextlib
import hmac
from typing import Any

import psycopg
from litestar import Controller, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from chatalot.api.routes import get
from chatalot.domain.errors import DomainError
from chatalot.metrics import ProjectorFigures, ScrapeCollector, Snapshot
from chatalot.services import Services

_FAILURES = "SELECT name, sum(failures)::bigint FROM projection_builds GROUP BY name"


def app_registry(state: State) -> tuple[CollectorRegistry, ScrapeCollector]:
    """This app's scrape-time figures (one per app: tests build many in one process)."""
    found: tuple[CollectorRegistry, ScrapeCollector] | None = state.get("metrics_registry")
    if found is None:
        collector = ScrapeCollector()
        registry = CollectorRegistry(auto_describe=True)
        registry.register(collector)
        found = state["metrics_registry"] = (registry, collector)
    return found


async def require_metrics_token(connection: ASGIConnection[Any, Any, Any, Any],
                                _: BaseRouteHandler) -> None:
    services: Services = connection.app.state.services
    expected = services.settings.metrics_token
    if not expected:
        raise DomainError("not_found", "not found")
    scheme, _sep, given = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             expected.encode()):
        raise DomainError("unauthorized", "metrics need their bearer token")


async def snapshot(services: Services) -> Snapshot:
    """What the database says now; a figure it cannot give is left out, never a 500."""
    snap = Snapshot(pool={k: int(v) for k, v in services.pool.get_stats().items()})
    host = services.projections
    if host is None:
        return snap
    with contextlib.suppress(psycopg.Error, TimeoutError, OSError):
        failures: dict[str, int] = {}
        async with services.pool.connection(timeout=2) as conn:
            for name, count in await (await conn.execute(_FAILURES)).fetchall():
                failures[name] = int(count or 0)
        for item in await host.status(max_age=1.0):
            sequence = int(item.position.rsplit(".", 1)[-1]) if item.position else 0
            snap.projectors.append(ProjectorFigures(
                item.name, sequence, item.lag_events, item.lag_seconds,
                failures.get(item.name, 0), item.state == "failed"))
    return snap


class MetricsController(Controller):
    path = "/metrics"
    include_in_schema = False

    @get("/", guards=[require_metrics_token], cache=False)
    async def metrics(self, state: State, services: NamedDependency[Services]
                      ) -> Response[bytes]:
        registry, collector = app_registry(state)
        collector.snapshot = await snapshot(services)
        body = generate_latest(REGISTRY) + generate_latest(registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
