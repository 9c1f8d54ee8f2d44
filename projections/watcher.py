"""How far each projector's active build has got, for read-your-writes waits.

Waiters sleep on an asyncio signal fired whenever a position moves: directly by a runner
in this process, or by the `advance`/`flip`/`reset` messages of runners elsewhere. No
polling loop: the slow periodic re-read only repairs a lost message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from event_store import InvalidPosition, Position
from event_store.wakeups import LocalSignal
from projections.notifications import Listener
from projections.tasks import stop

log = logging.getLogger(__name__)

_ACTIVE_POSITIONS = (
    "SELECT v.name, b.epoch, b.transaction_id, b.sequence FROM projection_versions v"
    " JOIN projection_builds b ON b.build = v.active_build"
)


class ProjectionWatcher:
    def __init__(self, pool: AsyncConnectionPool[Any], *, refresh_interval: float = 10.0) -> None:
        if not isinstance(pool.conninfo, str):
            raise TypeError("the pool needs a plain conninfo string")
        self._pool = pool
        self._refresh_interval = refresh_interval
        self.positions: dict[str, Position] = {}
        self._signal = LocalSignal()
        self._refresh_wanted = asyncio.Event()
        self._exact: set[str] = set()
        kwargs = dict(pool.kwargs) if isinstance(pool.kwargs, dict) else {}
        kwargs.pop("autocommit", None)
        self._listener = Listener(
            pool.conninfo, kwargs, self._on_message, self._resync,
            application_name="projections-watcher",
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        with contextlib.suppress(psycopg.Error, OSError):
            await self.refresh()
        self._listener.start()
        self._task = asyncio.create_task(self._refresher(), name="projections.watcher")

    async def close(self) -> None:
        await self._listener.close()
        await stop(self._task)
        self._task = None

    # -- positions ---------------------------------------------------------------------------

    def position(self, name: str) -> Position | None:
        return self.positions.get(name)

    def advance(self, name: str, position: Position) -> None:
        """A checkpoint of an active build committed (positions only move forward here)."""
        current = self.positions.get(name)
        if current is None or position > current:
            self.positions[name] = position
            self._signal.fire()

    def reached(self, names: Iterable[str], position: Position) -> bool:
        for name in names:
            current = self.positions.get(name)
            if current is None or current < position:
                return False
        return True

    async def wait_for(self, names: Iterable[str], position: Position, within: float) -> bool:
        """True once every named projector's active build has applied `position`."""
        names = list(names)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            ticket = self._signal.ticket()  # before checking: no wake-up falls in between
            if self.reached(names, position):
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await ticket.wait()
            except TimeoutError:
                return self.reached(names, position)

    # -- keeping up with other processes -----------------------------------------------------

    def _on_message(self, payload: str) -> None:
        for line in payload.split("\n"):  # advances come several to a payload
            self._on_line(line)

    def _on_line(self, payload: str) -> None:
        kind, _, rest = payload.partition(" ")
        if kind == "advance":
            name, _, text = rest.partition(" ")
            try:
                self.advance(name, Position.parse(text))
            except InvalidPosition:
                log.warning("ignoring a malformed projections message")
        elif kind in ("flip", "reset"):
            if kind == "reset":
                self._exact.add(rest)
            self._refresh_wanted.set()

    async def _resync(self) -> None:
        """After (re)connecting: the database's positions win, even backwards (projection
        commits are asynchronous, so a database crash can take back the last few)."""
        self._exact.add("*")
        await self.refresh()

    async def refresh(self) -> None:
        """Re-read every active build's position; a reset projector may move backwards."""
        exact, self._exact = self._exact, set()
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(_ACTIVE_POSITIONS)
                rows = await cur.fetchall()
        except BaseException:
            self._exact |= exact
            raise
        found = {row[0]: Position(row[1], row[2], row[3]) for row in rows}
        for name in list(self.positions):
            if name not in found:
                del self.positions[name]
        for name, position in found.items():
            if name in exact or "*" in exact:
                self.positions[name] = position
            else:
                self.advance(name, position)
        self._signal.fire()

    async def _refresher(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._refresh_interval):
                    await self._refresh_wanted.wait()
            self._refresh_wanted.clear()
            try:
                await self.refresh()
            except (psycopg.Error, OSError) as exc:
                log.warning("projection positions not refreshed: %s", type(exc).__name__)
