from __future__ import annotations

import contextlib

import msgspec
import psycopg
from litestar import Controller
from litestar.di import NamedDependency

from chatalot import __version__
from chatalot.api.routes import get
from chatalot.services import Services
from event_store import HeldBack


class ProjectionHealth(msgspec.Struct):
    state: str
    lag_events: int
    lag_seconds: float


class Health(msgspec.Struct):
    status: str
    version: str
    uptime_secs: int
    db_healthy: bool
    redis_healthy: bool | None
    projections: dict[str, ProjectionHealth] = {}
    log_held_back_secs: float = 0.0
    """How long the oldest committed event has waited for an older transaction to end."""
    log_held_back: HeldBack | None = None
    """Who holds the log back, when that has lasted over a second."""


class HealthController(Controller):
    path = "/api/health"
    tags = ["health"]

    @get("/", summary="Liveness and dependencies", cache=False)
    async def health(self, services: NamedDependency[Services]) -> Health:
        db_ok = False
        held: HeldBack | None = None
        with contextlib.suppress(psycopg.Error, TimeoutError, OSError):
            async with services.pool.connection(timeout=2) as conn:
                held = await services.store.held_back(conn)
                db_ok = True
        redis_ok: bool | None = None
        if services.redis is not None:
            redis_ok = False
            with contextlib.suppress(Exception):
                redis_ok = bool(await services.redis.ping())
        projections: dict[str, ProjectionHealth] = {}
        host = getattr(services, "projections", None)
        if host is not None and db_ok:
            with contextlib.suppress(psycopg.Error, TimeoutError, OSError):
                for item in await host.status(max_age=1.0):
                    projections[item.name] = ProjectionHealth(
                        item.label, item.lag_events, item.lag_seconds
                    )
        healthy = db_ok and redis_ok is not False and all(
            p.state != "failed" for p in projections.values()
        )
        return Health(
            status="ok" if healthy else "degraded",
            version=__version__,
            uptime_secs=services.uptime_secs,
            db_healthy=db_ok,
            redis_healthy=redis_ok,
            projections=projections,
            log_held_back_secs=round(held.age_secs, 3) if held else 0.0,
            log_held_back=held if held and held.is_news else None,
        )
