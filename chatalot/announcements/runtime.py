"""What the announcement handlers and commands need, and nothing of the accounts'."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from event_store import EventStore


@dataclass(frozen=True)
class AnnouncementsRuntime:
    store: EventStore
    pool: AsyncConnectionPool[Any]
    clock: Callable[[], float] = time.time

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)
