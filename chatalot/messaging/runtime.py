"""What messaging's handlers and commands need (REST controllers and, later, the gateway)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from chatalot.auth.ratelimit import RateLimiter
from event_store import EventStore


@dataclass(frozen=True)
class MessagingRuntime:
    store: EventStore
    pool: AsyncConnectionPool[Any]
    limiter: RateLimiter
    max_message_bytes: int = 64 * 1024
    edit_window_secs: int = 15 * 60
    clock: Callable[[], float] = time.time

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    @classmethod
    def of(cls, services: Any) -> MessagingRuntime:
        """Messaging's runtime over the process's services (chatalot/services.py)."""
        return cls(services.store, services.pool, services.limiter,
                   max_message_bytes=services.settings.limits.max_message_bytes,
                   edit_window_secs=services.settings.limits.edit_window_secs,
                   clock=services.accounts.clock)
