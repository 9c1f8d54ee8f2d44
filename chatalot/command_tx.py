"""How every command runs: one transaction holds its decision-state reads and writes, its
Idempotency-Key claim and its events, and commit makes them all true at once.

`run_command` runs a command's `work` in that transaction and retries the whole of it, in a
fresh transaction, when it lost a race that a second look can settle: a stream moved past
the version it expected, a younger transaction wrote the stream it appends to (the event
store refuses that append so that each stream reaches log readers in version order), or
PostgreSQL chose it as a deadlock or serialization victim. Nothing of a failed attempt
committed, so `work` must only read and write through its `CommandTx` (no effects outside
the transaction) and must read its decision state again each time it is called.

Appends are recorded by `work` and written when it returns, all streams' locks taken first
in one canonical order: two commands appending to the same streams in different orders then
queue instead of deadlocking.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NoReturn, TypeVar, overload

import msgspec
import psycopg
from psycopg.rows import dict_row

from chatalot.domain.errors import DomainError
from chatalot.idempotency import claim_in, current_claim
from chatalot.ids import uuid7
from chatalot.metrics import COMMAND_SECONDS, COMMANDS
from chatalot.session_positions import current_writes
from event_store import ANY, ConcurrencyError, EventStore, ExpectedVersion, Metadata, NewEvent
from event_store.records import AppendResult

Conn = psycopg.AsyncConnection[Any]
log = logging.getLogger("chatalot.commands")
T = TypeVar("T")

ATTEMPTS = 8
"""Attempts of one command before its last lost race is reported (409, or 503 for a deadlock)."""

RETRYABLE: tuple[type[BaseException], ...] = (
    ConcurrencyError,  # includes StreamOrderConflict
    psycopg.errors.DeadlockDetected,  # not a TransactionRollback subclass in psycopg
    psycopg.errors.SerializationFailure,
    psycopg.errors.TransactionRollback,
)


class Refusal(Exception):
    """Raised by `CommandTx.refuse`: commit what the command recorded, then answer `error`."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class Rows:
    """An INSERT of many rows in one statement: `sql` takes the rows as one JSON array of
    arrays (`json_array_elements(%s::json) r`, column i as `(r->>i)::type`), so that the
    rows a group's members record cost one statement and one round trip instead of one
    each. JSON, not an array a column: psycopg dumps lists element by element in Python
    (about 140 us of CPU for five lists of eight, against one msgspec call)."""

    sql: str


async def write_rows(conn: Conn, txs: list[CommandTx]) -> None:
    """Insert the rows that `txs` recorded with `insert_later`, one statement per `Rows`,
    and forget them."""
    by_insert: dict[Rows, list[tuple[Any, ...]]] = {}
    for tx in txs:
        for insert, row in tx.later:
            by_insert.setdefault(insert, []).append(row)
        tx.later.clear()
    for insert, rows in by_insert.items():
        await conn.execute(insert.sql, [msgspec.json.encode(rows).decode()])


@dataclass
class _Append:
    stream: str
    events: list[NewEvent]
    expected: ExpectedVersion


@dataclass
class CommandTx:
    """One attempt of a command: its connection, its clock reading, and its pending events."""

    store: EventStore
    conn: Conn
    meta: Metadata
    now: datetime
    pending: list[_Append] = field(default_factory=list)
    prepared: Any = None
    """What a command group read for this member before its work ran (command_group.py:
    `prepare`), None when the command runs alone."""
    later: list[tuple[Rows, tuple[Any, ...]]] = field(default_factory=list)
    """Rows recorded with `insert_later`, written before the events."""
    peers: list[CommandTx] | None = None
    """The members of this command's group so far (itself included), None alone."""

    def insert_later(self, insert: Rows, row: tuple[Any, ...]) -> None:
        """Record a row to insert in this transaction before the events are appended: a
        group's members' rows then go in one statement. A read that may need to see it
        calls `write_later` first; a refused member's rows are dropped."""
        self.later.append((insert, row))

    async def write_later(self) -> None:
        """Insert the rows recorded so far (by every member of the group, when grouped)."""
        await write_rows(self.conn, self.peers if self.peers is not None else [self])

    def event(self, data: msgspec.Struct, meta: Metadata | None = None) -> NewEvent:
        return NewEvent(data, event_id=uuid7(), metadata=meta or self.meta)

    def append(self, stream: str, *events: msgspec.Struct | NewEvent,
               expected: ExpectedVersion = ANY) -> None:
        """Record events for `stream`; they are appended, in the order recorded, when the
        command's work returns (a version conflict then retries the whole command)."""
        batch = [e if isinstance(e, NewEvent) else self.event(e) for e in events]
        self.pending.append(_Append(stream, batch, expected))

    def refuse(self, error: Exception) -> NoReturn:
        """End the command with `error`, but commit what it recorded first (an audit event,
        a revoked session): a refusal that must leave a trace."""
        raise Refusal(error)

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

    async def _flush(self) -> AppendResult | None:
        """Write the rows recorded for later, then append everything recorded, the
        streams' locks taken first when there are several."""
        if self.later:
            await self.write_later()
        streams = {a.stream for a in self.pending}
        if len(streams) > 1:
            await self.store.lock_streams(self.conn, streams)
        last = None
        for item in self.pending:
            last = await self.store.append(item.stream, item.events, item.expected,
                                           conn=self.conn)
        return last


@overload
async def run_command(store: EventStore, meta: Metadata, clock: Callable[[], datetime],
                      work: Callable[[CommandTx], Awaitable[T]], *, attempts: int = ...,
                      may_record_nothing: Literal[False] = False) -> tuple[T, str]: ...


@overload
async def run_command(store: EventStore, meta: Metadata, clock: Callable[[], datetime],
                      work: Callable[[CommandTx], Awaitable[T]], *, attempts: int = ...,
                      may_record_nothing: Literal[True]) -> tuple[T, str | None]: ...


async def run_command(store: EventStore, meta: Metadata, clock: Callable[[], datetime],
                      work: Callable[[CommandTx], Awaitable[T]], *,
                      attempts: int = ATTEMPTS,
                      may_record_nothing: bool = False) -> tuple[T, str | None]:
    """Run `work` in one transaction and return its result with the position of the last
    event it appended (what the command's reply carries). A command appends at least one
    event, what happened is in the log, unless `may_record_nothing` says that doing nothing
    is one of its answers (revoking no other session); the position is then None."""
    started = time.perf_counter()
    outcome = "error"
    try:
        for attempt in range(attempts):
            try:
                result = await _attempt(store, meta, clock(), work, may_record_nothing)
            except RETRYABLE:
                if attempt == attempts - 1:
                    raise
                # a short random pause, growing: the winners of the race commit meanwhile
                await asyncio.sleep(random.uniform(0, 0.004 * (attempt + 1)))  # noqa: S311
                continue
            outcome = "ok"
            _log_command(meta, outcome, started, attempt + 1, result[1])
            return result
        raise AssertionError("unreachable")
    except DomainError:
        outcome = "refused"
        _log_command(meta, outcome, started, None, None)
        raise
    finally:
        COMMANDS.labels(meta.command or "unknown", outcome).inc()
        COMMAND_SECONDS.labels(meta.command or "unknown").observe(time.perf_counter() - started)


def _log_command(meta: Metadata, outcome: str, started: float, attempts: int | None,
                 position: str | None) -> None:
    """One line per command: its name, outcome, position and correlation id (the one its
    events carry in their metadata), never its arguments. (Its fields are not even built
    below the INFO level: two such lines a send, one here and one per request.)"""
    if not log.isEnabledFor(logging.INFO):
        return
    log.info("command", extra={"correlation_id": meta.correlation_id, "fields": {
        "command": meta.command, "outcome": outcome, "position": position,
        "attempts": attempts, "actor_id": meta.actor_id,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2)}})


async def _attempt(store: EventStore, meta: Metadata, now: datetime,
                   work: Callable[[CommandTx], Awaitable[T]], may_record_nothing: bool
                   ) -> tuple[T, str | None]:
    """One transaction. The request's Idempotency-Key is claimed first (a concurrent retry
    of the same request then waits for this one and answers 'in progress'); an attempt
    that rolls back leaves it unclaimed for the next."""
    refusal: Refusal | None = None
    claim = current_claim.get()
    async with store.transaction() as conn:
        if claim is not None and not claim.committed:
            await claim_in(conn, claim, now)
        tx = CommandTx(store, conn, meta, now)
        try:
            result = await work(tx)
        except Refusal as refused:
            refusal = refused
        last = await tx._flush()
        if last is None and not may_record_nothing:
            raise RuntimeError("a command must append at least one event")
    if claim is not None:
        claim.committed = True
    writes = current_writes.get()
    if writes is not None and last is not None:
        writes.committed(last.position)
    if refusal is not None:
        raise refusal.error
    return result, None if last is None else last.position.encode()
