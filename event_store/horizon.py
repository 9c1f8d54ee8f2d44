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
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

log = logging.getLogger(__name__)

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
