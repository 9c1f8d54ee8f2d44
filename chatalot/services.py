"""What one process holds: settings, the database pool, the event store."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from chatalot.accounts.runtime import AccountsRuntime
from chatalot.auth.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from chatalot.config import Settings
from chatalot.db import MIGRATIONS_DIR, make_pool
from chatalot.metrics import observe_append
from chatalot.session_positions import (
    InProcessSessionPositions,
    RedisSessionPositions,
    SessionPositions,
)
from event_store import (
    EventRegistry,
    EventStore,
    InProcessBus,
    PostgresNotifyBus,
    RedisBus,
    WakeupBus,
)
from event_store.migrations import migrate
from projections import ProjectionHost, RunnerOptions
from projections.projector import Projector


@dataclass
class Services:
    settings: Settings
    database_url: str
    pool: AsyncConnectionPool[Any]
    store: EventStore
    started_at: float = field(default_factory=time.monotonic)
    redis: Any = None
    projections: ProjectionHost | None = None
    accounts_runtime: AccountsRuntime | None = None
    rate_limiter: RateLimiter | None = None
    session_positions: SessionPositions = field(default_factory=InProcessSessionPositions)
    extras: dict[str, Any] = field(default_factory=dict)
    """Runtimes a context makes on first use (the WebSocket gateway), by name."""
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Closed, newest first, before the pool and the store."""

    @property
    def uptime_secs(self) -> int:
        return int(time.monotonic() - self.started_at)

    @property
    def accounts(self) -> AccountsRuntime:
        """Account commands' dependencies (hashing, tokens, TOTP secrets, clock)."""
        if self.accounts_runtime is None:
            raise RuntimeError("accounts are not configured in these services")
        return self.accounts_runtime

    @property
    def limiter(self) -> RateLimiter:
        """Token buckets: in Redis when REDIS_URL is set (shared by every node)."""
        if self.rate_limiter is None:
            self.rate_limiter = MemoryRateLimiter()
        return self.rate_limiter


@contextlib.asynccontextmanager
async def open_services(settings: Settings, database_url: str, *, registry: EventRegistry,
                        projectors: Sequence[Projector],
                        clock: Callable[[], float] = time.time) -> AsyncIterator[Services]:
    """Migrate, open the pool and the store; close them again on exit.

    `clock` (seconds since the epoch) drives token expiry, TOTP and lockouts; tests freeze it.
    """
    from chatalot.accounts.commands import finish_pending_redactions
    from chatalot.auth.jwt_keys import ensure_jwt_keys
    from chatalot.logbook.checkpoints import periodic_checkpoints, sealer

    await migrate(database_url, MIGRATIONS_DIR)
    pool = make_pool(database_url, timeout=settings.limits.database_wait_ms / 1000)
    await pool.open(wait=True, timeout=30)
    # Without Redis, appends wake other processes through NOTIFY when projections run
    # elsewhere (`chatalot projections run`); alone, the in-process signal is enough.
    bus: WakeupBus = (
        RedisBus(settings.redis_url) if settings.redis_url
        else InProcessBus() if settings.run_projections
        else PostgresNotifyBus(database_url)
    )
    store = EventStore(pool, registry, bus)
    store.on_append = observe_append
    redis = None
    projections = ProjectionHost(
        store, projectors, run=settings.run_projections,
        options=RunnerOptions(hand_off=settings.rebuild_hand_off_secs or None,
                              rebuild_share=settings.rebuild_share))
    accounts: AccountsRuntime | None = None
    try:
        await store.start()
        await projections.start()
        if settings.redis_url:
            import redis.asyncio as redis_asyncio

            redis = redis_asyncio.Redis.from_url(settings.redis_url)
        limiter: RateLimiter = RedisRateLimiter(redis) if redis is not None else (
            MemoryRateLimiter())
        accounts = AccountsRuntime.create(settings, store, pool, clock=clock)
        await finish_pending_redactions(accounts)
        positions: SessionPositions = (RedisSessionPositions(redis) if redis is not None
                                       else InProcessSessionPositions())
        private_key, _ = ensure_jwt_keys(settings.private_key_path, settings.public_key_path)
        services = Services(settings, database_url, pool, store, redis=redis,
                            projections=projections, accounts_runtime=accounts,
                            rate_limiter=limiter, session_positions=positions)
        try:
            async with periodic_checkpoints(store, sealer(private_key),
                                            settings.checkpoint_interval_secs):
                yield services
        finally:
            for close in reversed(services.closers):
                try:
                    await close()
                except Exception:  # one context's failure must not leak the pool
                    logging.getLogger(__name__).exception("closing a runtime failed")
    finally:
        if accounts is not None:
            accounts.hasher.close()
        await projections.close()
        if redis is not None:
            await redis.aclose()
        await store.close()
        await pool.close()
