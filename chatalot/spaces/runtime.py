"""What the spaces handlers and commands need."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from event_store import EventStore


@dataclass(frozen=True)
class SpacesRuntime:
    store: EventStore
    pool: AsyncConnectionPool[Any]
    clock: Callable[[], float] = time.time

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)
