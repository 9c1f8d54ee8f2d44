"""What the log routes need: the store (its epoch and horizon) and the pool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from event_store import EventStore


@dataclass(frozen=True)
class LogbookRuntime:
    store: EventStore
    pool: AsyncConnectionPool[Any]
