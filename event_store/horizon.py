"""One watcher per process for the read horizon, while any reader is held back.

A held reader waits for the oldest running transaction to end. When that transaction
appends events, its commit sends a wake-up; when it does not (a projection batch, a rebuild,
another database's work), nothing would. Instead of every held subscription polling the
log, this watcher asks PostgreSQL for the horizon alone (no table is read) every couple of
milliseconds while anyone waits, and fires the store's local signal when it moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg

from event_store import sql
from event_store.positions import Position
from event_store.records import HELD_BACK_NEWS_AFTER, HeldBack

log = logging.getLogger(__name__)
Conn = psycopg.AsyncConnection[Any]

INTERVAL = 0.002
_XMIN = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


class HorizonWatch:
    def __init__(self, conninfo: str, connect_kwargs: dict[str, Any],
                 on_move: Callable[[], None]) -> None:
        self._conninfo = conninfo
        self._kwargs = connect_kwargs
        self._on_move = on_move
        self._waiting = 0
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """While inside, the horizon is watched (the store's signal fires when it moves)."""
        self._waiting += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch(), name="event_store.horizon")
        try:
            yield
        finally:
            self._waiting -= 1

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        try:
            async with await psycopg.AsyncConnection.connect(
                self._conninfo, **{**self._kwargs, "autocommit": True,
                                   "application_name": "event_store-horizon"}
            ) as conn:
                last = None
                while self._waiting > 0:
                    row = await (await conn.execute(_XMIN)).fetchone()
                    horizon = row[0] if row else None
                    if last is not None and horizon != last:
                        self._on_move()
                    last = horizon
                    await asyncio.sleep(INTERVAL)
        except psycopg.Error as exc:  # readers still poll on their own, only slower
            log.warning("horizon watch stopped: %s", type(exc).__name__)


async def held_back(conn: Conn, epoch: int) -> HeldBack | None:
    """What keeps committed events from readers now: the age of the oldest one and the
    backend whose transaction holds the horizon (it may be in another database of the
    cluster); None when nothing committed is out of reach."""
    cur = await conn.execute(sql.HELD_BACK, (epoch,))
    row = await cur.fetchone()
    if row is None:
        return None
    return HeldBack(float(row[0]), row[1], row[2], row[3],
                    None if row[4] is None else float(row[4]), row[5])


async def held_or_ready(conn: Conn, epoch: int, after: Position, category: str | None
                        ) -> bool:
    """After an empty read: are events held back, or readable by now? One statement, so
    one snapshot: a horizon that moved since the read cannot hide both."""
    params: list[Any] = [epoch, after.epoch, after.transaction_id, after.sequence, epoch]
    where = sql.VISIBLE
    if category is not None:
        where = f"{sql.CATEGORY} AND {where}"
        params.insert(1, sql.category_pattern(category))
    # a scalar subquery ordered like the read walks the index from the cursor; an EXISTS
    # drops the ORDER BY and may be planned as a scan of the whole table
    cur = await conn.execute(
        f"SELECT {sql.ANY_HELD} OR (SELECT true FROM events e WHERE {where}"
        f"{sql.ORDER.replace('%s', '1')}) IS NOT NULL", params
    )
    row = await cur.fetchone()
    return bool(row and row[0])


class HeldBackNews:
    """How long a reader has been held back behind the horizon, and the one warning (then
    the all-clear) it logs about it: the same for a subscription reading the database and
    for the process's log window."""

    def __init__(self, logger: logging.Logger, who: str) -> None:
        self._log = logger
        self._who = who
        self._since: float | None = None
        self._reported = False

    @property
    def secs(self) -> float:
        """How long committed events have been out of reach (0: not held)."""
        return 0.0 if self._since is None else time.monotonic() - self._since

    async def note(self, conn: Any,
                   held_back: Callable[[Any], Awaitable[HeldBack | None]]) -> None:
        """Held back at this read: start the clock, or say who holds it once it is long."""
        if self._since is None:
            self._since = time.monotonic()
            return
        if self._reported or self.secs < HELD_BACK_NEWS_AFTER:
            return
        self._reported = True
        report = await held_back(conn)
        if report is not None:
            self._log.warning("%s held back %.1f s: %s", self._who, self.secs,
                              report.describe())

    def clear(self) -> None:
        if self._reported:
            self._log.info("%s no longer held back (%.1f s)", self._who, self.secs)
        self._since = None
        self._reported = False
