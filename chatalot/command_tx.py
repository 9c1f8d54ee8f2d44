"""One command's transaction: the decision-table reads and writes and the events it appends
share one connection and commit together (architecture.md, "Commands")."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import msgspec
import psycopg
from psycopg.rows import dict_row

from chatalot.idempotency import claim_in, current_claim
from chatalot.ids import uuid7
from event_store import ANY, ConcurrencyError, EventStore, ExpectedVersion, Metadata, NewEvent
from event_store.records import AppendResult

Conn = psycopg.AsyncConnection[Any]
T = TypeVar("T")


@dataclass
class CommandTx:
    store: EventStore
    conn: Conn
    meta: Metadata
    now: datetime
    results: list[AppendResult] = field(default_factory=list)

    def event(self, data: msgspec.Struct, meta: Metadata | None = None) -> NewEvent:
        return NewEvent(data, event_id=uuid7(), metadata=meta or self.meta)

    async def append(self, stream: str, *events: msgspec.Struct | NewEvent,
                     expected: ExpectedVersion = ANY) -> AppendResult:
        batch = [e if isinstance(e, NewEvent) else self.event(e) for e in events]
        result = await self.store.append(stream, batch, expected, conn=self.conn)
        self.results.append(result)
        return result

    async def fetchone(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchone()

    async def fetchall(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchall()

    async def execute(self, sql: str, params: Any = ()) -> int:
        cur = await self.conn.execute(sql, params)
        return cur.rowcount

    @property
    def position(self) -> str | None:
        """The position of the last event appended: what the command's reply carries."""
        return self.results[-1].position.encode() if self.results else None


@contextlib.asynccontextmanager
async def command_tx(store: EventStore, meta: Metadata, now: datetime
                     ) -> AsyncIterator[CommandTx]:
    """The request's Idempotency-Key, if any, is claimed in the first transaction that
    commits (a rolled-back attempt leaves it unclaimed for the next)."""
    claim = current_claim.get()
    async with store.transaction() as conn:
        if claim is not None and not claim.committed:
            await claim_in(conn, claim, now)
        yield CommandTx(store, conn, meta, now)
    if claim is not None:
        claim.committed = True


async def with_retries(store: EventStore, meta: Metadata, now: Callable[[], datetime],
                       work: Callable[[CommandTx], Awaitable[T]], *, attempts: int = 5) -> T:
    """Run `work` in one transaction; again from the start when it lost a stream-version
    race (nothing of it was committed). The last ConcurrencyError propagates."""
    for attempt in range(attempts):
        try:
            async with command_tx(store, meta, now()) as tx:
                return await work(tx)
        except ConcurrencyError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311
    raise AssertionError("unreachable")
