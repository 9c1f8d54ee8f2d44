"""What one process holds: settings, the database pool, the event store."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from chatalot.config import Settings
from chatalot.db import MIGRATIONS_DIR, make_pool
from chatalot.domain.events import build_registry
from event_store import EventStore, InProcessBus, PostgresNotifyBus, RedisBus, WakeupBus
from event_store.migrations import migrate
from projections import ProjectionHost
from projections.read_models import default_projectors


@dataclass
class Services:
    settings: Settings
    database_url: str
    pool: AsyncConnectionPool[Any]
    store: EventStore
    started_at: float = field(default_factory=time.monotonic)
    redis: Any = None
    projections: ProjectionHost | None = None

    @property
    def uptime_secs(self) -> int:
        return int(time.monotonic() - self.started_at)


@contextlib.asynccontextmanager
async def open_services(settings: Settings, database_url: str) -> AsyncIterator[Services]:
    """Migrate, open the pool and the store; close them again on exit."""
    await migrate(database_url, MIGRATIONS_DIR)
    pool = make_pool(database_url)
    await pool.open(wait=True, timeout=30)
    # Without Redis, appends wake other processes through NOTIFY when projections run
    # elsewhere (`chatalot projections run`); alone, the in-process signal is enough.
    bus: WakeupBus = (
        RedisBus(settings.redis_url) if settings.redis_url
        else InProcessBus() if settings.run_projections
        else PostgresNotifyBus(database_url)
    )
    store = EventStore(pool, build_registry(), bus)
    redis = None
    projections = ProjectionHost(store, default_projectors(), run=settings.run_projections)
    try:
        await store.start()
        await projections.start()
        if settings.redis_url:
            import redis.asyncio as redis_asyncio

            redis = redis_asyncio.Redis.from_url(settings.redis_url)
        yield Services(settings, database_url, pool, store, redis=redis, projections=projections)
    finally:
        await projections.close()
        if redis is not None:
            await redis.aclose()
        await store.close()
        await pool.close()
