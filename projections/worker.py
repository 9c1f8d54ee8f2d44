"""Runs one build of one projector: bulk load from its checkpoint and indexes
(projections/bulk.py), flip, live (projections/live.py).

Every batch is one transaction that first compares-and-sets the build's checkpoint (from
the position this worker last committed to the batch's last position), then applies the
handlers: effects and checkpoint commit together or not at all (exactly-once), and a
worker whose build was retired, reset or taken over by another node writes nothing.

Once live, a batch with nothing for the projector writes nothing: the worker only moves
its position in memory (and tells read-your-writes waiters at once: the read model is as
it would be after the batch), and saves the checkpoint with its next write, after
`SAVE_IDLE` seconds of quiet, or `SAVE_EVERY` seconds at most (projections/live.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

import psycopg
from psycopg.pq import TransactionStatus

from event_store import EventStore, Position, RecordedEvent
from projections.bulk import finish_bulk, load_to_head
from projections.catalog import Build, activate, load_build, load_builds
from projections.errors import EventFailed, Retired, is_transient
from projections.live import follow_live
from projections.options import RunnerOptions
from projections.pacing import Pacer
from projections.projector import ProjectionContext, Projector

log = logging.getLogger(__name__)


class WorkerHost(Protocol):
    """What a build worker needs of the runner that starts it (the runner is one)."""

    store: EventStore
    options: RunnerOptions

    def advanced(self, name: str, position: Position, *, active: bool) -> None: ...

    def flipped(self, name: str) -> None: ...

    def generation(self, name: str) -> int:
        """Moves whenever a build of `name` flips or is reset (here or elsewhere)."""
        ...

Conn = psycopg.AsyncConnection[Any]

_ADVANCE = """
UPDATE projection_builds
   SET epoch = %(epoch)s, transaction_id = %(xid)s, sequence = %(seq)s,
       events_done = events_done + %(n)s, updated_at = clock_timestamp(),
       rate = coalesce(%(rate)s, rate),
       error = NULL, failed_position = NULL, failed_at = NULL
 WHERE build = %(build)s AND state <> 'retired'
   AND (epoch, transaction_id, sequence) = (%(from_epoch)s, %(from_xid)s, %(from_seq)s)
RETURNING coalesce((SELECT v.active_build = %(build)s FROM projection_versions v
                     WHERE v.name = projection_builds.name), false)
"""

_ADVANCE_CHECKED = f"""
WITH moved(active) AS ({_ADVANCE})
SELECT coalesce((SELECT active FROM moved), projection_checkpoint_moved(%(build)s))
"""
"""`_ADVANCE` for a batch sent as one pipeline: a checkpoint that moved fails the statement
(migration 0041, SQLSTATE PJ409), and with it the batch's transaction."""

MOVED = "PJ409"

_FAILED = """
UPDATE projection_builds
   SET error = %s, failed_position = %s, failed_at = clock_timestamp(), failures = failures + 1
 WHERE build = %s
"""

MAX_ERROR = 1000


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."


class _NotYet(Exception):
    """The flip could not complete now (its catch-up failed or a lock was busy)."""


RATE_WINDOW = 3.0
"""Seconds of recent batches that the reported rate (events/s) is measured over."""


class BuildWorker:
    def __init__(
        self, runner: WorkerHost, projector: Projector, build: Build, *,
        until_active: bool = False,
    ) -> None:
        self.runner = runner
        self.projector = projector
        self.build = build
        self.store = runner.store
        self.options = runner.options
        self.position = build.position
        """How far the worker has consumed the log (its read model is as of here)."""
        self.saved = build.position
        """The checkpoint in the database (behind `position` by events it had no use for)."""
        self._unsaved = 0
        self._unsaved_since = 0.0
        self._generation = runner.generation(projector.name)
        self.active = False
        self.progressed = False
        self.until_active = until_active
        """Stop once the build answers queries (a dedicated rebuild process: the
        projector's leader runs it from then on)."""
        self.pacer = Pacer(
            share=self.options.rebuild_share, rate=self.options.rebuild_rate,
            batch_seconds=self.options.batch_seconds, max_batch=self.options.bulk_batch,
        )
        self._tables = list(projector.tables)
        self._recent: deque[tuple[float, int]] = deque()
        self._done = 0

    def _rate(self, events: int) -> float | None:
        """Events/s over the last few seconds of batches (None until two are known)."""
        now = time.monotonic()
        self._done += events
        recent = self._recent
        recent.append((now, self._done))
        while len(recent) > 2 and now - recent[1][0] >= RATE_WINDOW:
            recent.popleft()
        first_at, first_done = recent[0]
        if now - first_at < 0.05:
            return None
        return (self._done - first_done) / (now - first_at)

    def _label(self, role: str) -> str:
        return f"projection-{self.projector.name}-b{self.build.build}-{role}"[:63]

    async def _connect(self, role: str) -> Conn:
        kwargs = {**self.store.connect_kwargs, "autocommit": True,
                  "application_name": self._label(role)}
        return await psycopg.AsyncConnection.connect(self.store.conninfo, **kwargs)

    async def run(self) -> None:
        """Until the build is retired (raises Retired); failures propagate to the runner."""
        conn = await self._connect("write")
        try:
            # Read models are derived data: a database crash may take back the last few
            # batches, but each batch's checkpoint goes with its writes, and they are simply
            # applied again. Not waiting for the WAL flush halves the live lag.
            await conn.execute("SET synchronous_commit = off")
            build = await load_build(conn, self.build.build)
            if build is None or build.state == "retired":
                raise Retired(f"build {self.build.build} is gone")
            self.build = build
            self.position = self.saved = build.position
            self._unsaved = 0
            cur = await conn.execute(
                "SELECT active_build = %s FROM projection_versions WHERE name = %s",
                (build.build, build.name),
            )
            row = await cur.fetchone()
            self.active = bool(row and row[0])
            if build.state == "bulk":
                await load_to_head(self, conn)
                await finish_bulk(self, conn)
            if not self.active:
                await self._flip(conn)
            if self.until_active:
                return
            await self._live(conn)
        finally:
            await conn.close()

    # -- batches -----------------------------------------------------------------------------

    async def _apply(
        self, conn: Conn, before: Position, events: Sequence[RecordedEvent], *, rebuilding: bool
    ) -> bool:
        """Inside the caller's transaction: move the checkpoint, then run the handlers.
        Returns whether the build is the active one."""
        active = await self._advance(conn, before, events[-1].position,
                                     len(events) + self._unsaved)
        wanted = [e for e in events if self.projector.wants(e.type)]
        if wanted:
            ctx = ProjectionContext(
                conn, self.build.schema, self._tables, rebuilding=rebuilding, store=self.store
            )
            await self.projector.apply(wanted, ctx)
        return active

    async def _apply_pipelined(
        self, conn: Conn, events: Sequence[RecordedEvent], *, rebuilding: bool
    ) -> bool:
        """`_apply` in a transaction of its own, BEGIN to COMMIT sent as one pipeline: one
        round trip unless a handler reads (psycopg's transaction() inside a pipeline, and
        each nested pipeline, wait for a sync of their own: 4-6 round trips a batch). The
        checkpoint's compare-and-set fails its statement when the build moved on, which
        aborts the handlers' writes and the COMMIT behind it."""
        try:
            async with conn.pipeline():
                await conn.execute("BEGIN")
                cur = await conn.execute(_ADVANCE_CHECKED, self._advance_params(
                    self.saved, events[-1].position, len(events) + self._unsaved))
                wanted = [e for e in events if self.projector.wants(e.type)]
                if wanted:
                    ctx = ProjectionContext(conn, self.build.schema, self._tables,
                                            rebuilding=rebuilding, store=self.store,
                                            pipelined=True)
                    await self.projector.apply(wanted, ctx)
                await conn.execute("COMMIT")
            # read after the pipeline's own Sync: a sync() before it was a round trip more
            row = await cur.fetchone()
        except BaseException as exc:
            if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):  # the error skipped the COMMIT
                    await conn.execute("ROLLBACK")
            if isinstance(exc, psycopg.Error) and exc.sqlstate == MOVED:
                raise Retired(f"build {self.build.build} was retired or moved on"
                              " elsewhere") from None
            raise
        return bool(row and row[0])

    def _advance_params(self, before: Position, after: Position, n: int) -> dict[str, Any]:
        return {
            "epoch": after.epoch, "xid": after.transaction_id, "seq": after.sequence,
            "n": n, "rate": self._rate(n), "build": self.build.build,
            "from_epoch": before.epoch, "from_xid": before.transaction_id,
            "from_seq": before.sequence,
        }

    async def _advance(self, conn: Conn, before: Position, after: Position, n: int) -> bool:
        """Compare-and-set the checkpoint; whether the build is the active one."""
        cur = await conn.execute(_ADVANCE, self._advance_params(before, after, n))
        row = await cur.fetchone()
        if row is None:
            raise Retired(f"build {self.build.build} was retired or moved on elsewhere")
        return bool(row[0])

    async def _commit(
        self, conn: Conn, events: Sequence[RecordedEvent], *, rebuilding: bool
    ) -> None:
        generation = self.runner.generation(self.projector.name)
        try:
            if self.projector.pipeline:
                active = await self._apply_pipelined(conn, events, rebuilding=rebuilding)
            else:
                async with conn.transaction():
                    active = await self._apply(conn, self.saved, events,
                                               rebuilding=rebuilding)
        except Retired:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise
            if len(events) == 1:
                await self._record_failure(conn, events[0].position, exc)
                raise EventFailed(events[0].position, self.position, describe(exc)) from exc
            # Which event? Apply one at a time: the ones before it commit, it stops the build.
            for event in events:
                await self._commit(conn, [event], rebuilding=rebuilding)
            return
        self._generation = generation
        self._committed(events[-1].position, active)

    def _committed(self, position: Position, active: bool) -> None:
        self.position = self.saved = position
        self._unsaved = 0
        self.active = active
        self.progressed = True
        self.runner.advanced(self.projector.name, position, active=active)

    async def _record_failure(
        self, conn: Conn, position: Position | None, exc: BaseException
    ) -> None:
        where = position.encode() if position is not None else f"after {self.position.encode()}"
        log.error("projection %s (build %s) failed at %s: %s", self.projector.name,
                  self.build.build, where, describe(exc))
        with contextlib.suppress(psycopg.Error):
            await conn.execute(_FAILED, (describe(exc), where, self.build.build))

    async def _read_failed(self, conn: Conn, exc: BaseException) -> EventFailed:
        """Reading itself failed (an event that cannot be decoded, say)."""
        await self._record_failure(conn, None, exc)
        return EventFailed(None, self.position, describe(exc))

    # -- phases ------------------------------------------------------------------------------

    async def _flip(self, conn: Conn) -> None:
        """Make this build the one queries read, once it is at least where the active
        build is. The last stretch is applied inside the flip's own transaction, holding
        the active build's row, so the flip cannot be outrun by continuous writes."""
        while True:
            # Catch up first in short transactions of their own, so that the flip's (which
            # holds locks and a transaction id) has only the last few events to apply.
            caught_up = False
            while not caught_up:
                limit = self.pacer.batch
                page = await self.store.read_all(self.position, limit=limit, conn=conn)
                if page:
                    started = time.monotonic()
                    await self._commit(conn, page, rebuilding=False)
                    self.pacer.measured(len(page), time.monotonic() - started)
                caught_up = len(page) < limit
            try:
                await self._try_flip(conn)
                return
            except _NotYet:
                await asyncio.sleep(0.05)

    async def _try_flip(self, conn: Conn) -> None:
        name = self.projector.name
        position = self.position
        old: Build | None = None
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL lock_timeout = '2s'")
                cur = await conn.execute(
                    "SELECT active_build FROM projection_versions WHERE name = %s FOR UPDATE",
                    (name,),
                )
                row = await cur.fetchone()
                if row is None:
                    raise Retired(f"{name} was reset")
                await conn.execute(
                    "SELECT 1 FROM projection_builds WHERE name = %s AND state <> 'retired'"
                    " ORDER BY build FOR UPDATE",
                    (name,),
                )
                builds = {b.build: b for b in await load_builds(conn, name)}
                mine = builds.get(self.build.build)
                if mine is None or mine.state != "live" or mine.position != position:
                    raise Retired(f"build {self.build.build} moved on elsewhere")
                if row[0] == mine.build:
                    self.active = True
                    return
                old = builds.get(row[0]) if row[0] is not None else None
                target = old.position if old is not None else position
                while position < target:
                    page = await self.store.read_all(
                        position, limit=self.options.bulk_batch, conn=conn
                    )
                    if not page:
                        raise _NotYet
                    try:
                        async with conn.transaction():
                            await self._apply(conn, position, page, rebuilding=False)
                    except (Retired, psycopg.OperationalError):
                        raise
                    except Exception as exc:
                        log.info("flip of %s deferred: %s", name, describe(exc))
                        raise _NotYet from exc
                    position = page[-1].position
                await activate(conn, self.projector, mine, previous=old)
        except psycopg.errors.LockNotAvailable as exc:
            raise _NotYet from exc
        log.info("projection %s: build %s (v%s) now answers queries%s", name, mine.build,
                 mine.version, f", replacing build {old.build}" if old else "")
        self._committed(position, True)
        self.runner.flipped(name)

    async def _live(self, conn: Conn) -> None:
        await follow_live(self, conn)
