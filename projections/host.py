"""Everything an application process needs from projections, behind one object: the
watcher (read-your-writes), the runner when this process runs projectors, status, and
rebuild requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence

from psycopg import sql

from event_store import EventStore, Position
from projections import catalog
from projections.errors import UnknownProjection
from projections.options import RunnerOptions
from projections.projector import Projector, read_model, validate
from projections.runner import ProjectionRunner
from projections.status import ProjectionStatus, read_status
from projections.watcher import ProjectionWatcher


class ProjectionHost:
    def __init__(
        self,
        store: EventStore,
        projectors: Iterable[Projector],
        *,
        run: bool,
        options: RunnerOptions | None = None,
    ) -> None:
        self.store = store
        self.projectors = validate(projectors, store.registry)
        self._tables = {t: name for name, p in self.projectors.items() for t in p.tables}
        self.watcher = ProjectionWatcher(store.pool)
        self.runner: ProjectionRunner | None = (
            ProjectionRunner(store, self.projectors.values(), options=options,
                             on_advance=self.watcher.advance)
            if run else None
        )
        self._status: tuple[float, list[ProjectionStatus]] | None = None
        self._status_lock = asyncio.Lock()

    async def start(self) -> None:
        await self.watcher.start()
        if self.runner is not None:
            await self.runner.start()

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.close()
        await self.watcher.close()

    def names(self) -> list[str]:
        return sorted(self.projectors)

    def table(self, logical: str) -> sql.Identifier:
        """The name a query uses for a logical table: always the active build's."""
        if logical not in self._tables:
            raise UnknownProjection(f"no projector owns a table {logical!r}")
        return read_model(logical)

    def owner(self, logical: str) -> str:
        """The projector whose position a query on `logical` must wait for."""
        try:
            return self._tables[logical]
        except KeyError:
            raise UnknownProjection(f"no projector owns a table {logical!r}") from None

    async def wait_for(self, names: Sequence[str], position: Position, within: float) -> bool:
        for name in names:
            if name not in self.projectors:
                raise UnknownProjection(f"no projector named {name!r}")
        return await self.watcher.wait_for(names, position, within)

    async def status(self, max_age: float = 0.0) -> list[ProjectionStatus]:
        """Every projector's status; `max_age` lets frequent callers (health) share one read."""
        async with self._status_lock:
            now = time.monotonic()
            if self._status is not None and now - self._status[0] <= max_age:
                return self._status[1]
            async with self.store.pool.connection() as conn, conn.transaction():
                result = await read_status(conn, self.projectors,
                                           dict(self.watcher.positions))
            self._status = (time.monotonic(), result)
            return result

    async def request_rebuild(self, name: str) -> bool:
        """True when a rebuild was requested now, False when one is already under way."""
        if name not in self.projectors:
            raise UnknownProjection(f"no projector named {name!r}")
        async with self.store.pool.connection() as conn, conn.transaction():
            requested = await catalog.request_rebuild(conn, name)
        if self.runner is not None:
            self.runner.poke(name)
        self._status = None
        return requested
