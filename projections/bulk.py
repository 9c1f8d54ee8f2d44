"""The bulk phase of a build worker: load from its checkpoint to the log's head in short
batches, then build the secondary indexes and statistics and mark the build live.

Each batch commits through the worker (`BuildWorker._commit`: the checkpoint's
compare-and-set and the handlers' writes in one transaction), so a bulk load stopped
anywhere resumes from its last batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from event_store import RecordedEvent
from projections.errors import Retired, is_transient
from projections.tasks import stop

if TYPE_CHECKING:
    from projections.worker import BuildWorker

log = logging.getLogger(__name__)

Conn = psycopg.AsyncConnection[Any]


async def load_to_head(worker: BuildWorker, conn: Conn) -> None:
    """Load from the checkpoint to the head in batches whose transactions stay short.
    Unpaced, reading the next batch overlaps with writing this one; paced, each batch
    is read, written, then rested for (see projections/pacing.py)."""
    reader = await worker._connect("read")
    try:
        if worker.pacer.paced:
            await _paced(worker, conn, reader)
        else:
            await _overlapped(worker, conn, reader)
    finally:
        await reader.close()
    if worker.pacer.longest:
        log.info("projection %s: build %s loaded; longest batch transaction %.0f ms,"
                 " %.1f s rested", worker.projector.name, worker.build.build,
                 worker.pacer.longest * 1000, worker.pacer.rested)


async def _commit(worker: BuildWorker, conn: Conn, page: list[RecordedEvent]) -> None:
    started = time.monotonic()
    await worker._commit(conn, page, rebuilding=True)
    worker.pacer.measured(len(page), time.monotonic() - started)


async def _paced(worker: BuildWorker, conn: Conn, reader: Conn) -> None:
    while True:
        started = time.monotonic()
        try:
            page = await worker.store.read_all(worker.position, limit=worker.pacer.batch,
                                               conn=reader)
        except Exception as exc:
            if is_transient(exc):
                raise
            raise await worker._read_failed(conn, exc) from exc
        if not page:
            return
        await _commit(worker, conn, page)
        busy = time.monotonic() - started
        probe = time.monotonic()
        await reader.execute("SELECT 1")
        worker.pacer.probed(time.monotonic() - probe)
        await worker.pacer.rest(busy)


async def _overlapped(worker: BuildWorker, conn: Conn, reader: Conn) -> None:
    queue: asyncio.Queue[list[RecordedEvent] | BaseException | None] = asyncio.Queue(2)

    async def produce() -> None:
        after = worker.position
        try:
            while True:
                page = await worker.store.read_all(after, limit=worker.pacer.batch,
                                                   conn=reader)
                if not page:
                    await queue.put(None)
                    return
                await queue.put(page)
                after = page[-1].position
        except Exception as exc:
            await queue.put(exc)

    producer = asyncio.create_task(produce(), name=worker._label("reader"))
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                if is_transient(item):
                    raise item
                raise await worker._read_failed(conn, item)
            await _commit(worker, conn, item)
            await asyncio.sleep(0)  # a batch applied: let the loop serve others
    finally:
        await stop(producer)


async def finish_bulk(worker: BuildWorker, conn: Conn) -> None:
    """Caught up once: build the secondary indexes and statistics, then go live.

    The indexes are built concurrently, outside any transaction, so that readers of
    the log (live delivery included) are not held behind a long index build."""
    schema = worker.build.schema
    cur = await conn.execute(
        "SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND NOT i.indisvalid",
        (schema,),
    )
    for (leftover,) in await cur.fetchall():  # an interrupted concurrent build
        await conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.SQL(leftover)))
    for statement in worker.projector.index_statements(schema):
        await conn.execute(statement)
    # Each ANALYZE in its own short transaction: inside the one below, after its UPDATE,
    # the sampling would hold a transaction id, and every log reader behind it.
    for table in worker._tables:
        await conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))
    cur = await conn.execute(
        "UPDATE projection_builds SET state = 'live', live_at = clock_timestamp()"
        " WHERE build = %s AND state = 'bulk' RETURNING 1",
        (worker.build.build,),
    )
    if await cur.fetchone() is None:
        raise Retired(f"build {worker.build.build} left the bulk phase elsewhere")
