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
