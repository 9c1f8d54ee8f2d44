"""The blob collector: a process manager that reads the log and removes the bytes of blobs
nothing references any more.

It follows `FileDeleted`, `MediaAssetUploaded` and `MediaAssetRemoved` (their
`released_sha256` name the blobs whose reference count the command lowered) from its
checkpoint (`file_collector_checkpoint`), deletes the files and images a deleted channel,
group, community or account left behind (chatalot/files/cleanup.py: their `FileDeleted`
and `MediaAssetRemoved` come later in the log, and a later batch collects their bytes),
and now and then sweeps every unreferenced blob (a crash between placing bytes and the
command). Every node runs one; a transaction-scoped advisory lock lets one node collect at
a time (the others skip their turn), and a node that dies mid-batch leaves the checkpoint
where it was (collection is idempotent: the next batch redoes it). The batch's own
transaction takes no transaction id until it moves the checkpoint at its very end (an
advisory lock is not a row lock), so it never holds the log's readers back while it works.

Removing one blob: in one transaction, the blob's row is locked, then it must have no
reference and no live pin (read after the lock, by a statement of its own, so that a pin
committed while the collector waited for the row is seen), the bytes are deleted while
the lock is held, the row goes and
`BlobCollected` is appended. An upload pins the row (waiting for that lock) before it
places bytes, so it either runs before (the pin stops the collection) or after (the row is
gone; the upload makes a new one and places the bytes again). If the transaction fails
after the bytes went, the row stays unreferenced and the next pass removes nothing more:
deleting absent bytes is a no-op. This is not a `run_command` command: deleting the bytes
must happen under the row lock, inside the transaction, exactly once per attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from chatalot.domain.files import events as ev
from chatalot.domain.streams import blob_stream
from chatalot.files import cleanup
from chatalot.files.runtime import FilesRuntime, files_runtime
from event_store import ANY, Metadata, NewEvent, Position

log = logging.getLogger(__name__)

RELEASING = ("FileDeleted", "MediaAssetUploaded", "MediaAssetRemoved")
FOLLOWED = RELEASING + cleanup.FOLLOWED
LOCK_KEY = 0x0F11E5C011EC7  # pg_try_advisory_xact_lock: one collecting node at a time
BATCH = 500
STAGING_MAX_AGE_SECS = 24 * 3600


class BlobCollector:
    def __init__(self, rt: FilesRuntime, *, interval: float = 1.0,
                 sweep_every: float = 600.0) -> None:
        self.rt = rt
        self.interval = interval
        self.sweep_every = sweep_every
        self.stopping = False

    async def collect_once(self) -> int:
        """Follow the log from the checkpoint (one batch); returns how many events it
        read (0 when another node holds the checkpoint or nothing is new)."""
        store = self.rt.store
        async with self.rt.pool.connection() as conn, conn.transaction():
            cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (LOCK_KEY,))
            taken = await cur.fetchone()
            if not taken or not taken[0]:
                return 0  # another node is collecting
            cur = await conn.execute(
                "SELECT epoch, transaction_id, sequence FROM file_collector_checkpoint"
                " WHERE name = 'blobs'")
            row = await cur.fetchone()
            assert row is not None
            events = await store.read_all(Position(*row), limit=BATCH, types=FOLLOWED)
            for event in events:
                if event.type in cleanup.FOLLOWED:
                    await cleanup.delete_left_behind(self.rt, event)
            released = sorted({sha for e in events if e.type in RELEASING
                               for sha in e.data.released_sha256})
            removed = 0
            for sha256 in released:
                removed += await self.try_collect(sha256)
            if removed:
                log.info("collected %d unreferenced blobs", removed)
            if events:
                last = events[-1].position
                await conn.execute(
                    "UPDATE file_collector_checkpoint SET epoch = %s, transaction_id = %s,"
                    " sequence = %s WHERE name = 'blobs'",
                    (last.epoch, last.transaction_id, last.sequence))
        return len(events)

    async def sweep(self) -> int:
        """Every unreferenced, unpinned blob (and expired pins, old staging files, files
        whose channel or uploader is gone)."""
        await cleanup.sweep_orphans(self.rt)
        await cleanup.sweep_media_orphans(self.rt)
        async with self.rt.pool.connection() as conn:
            await conn.execute("DELETE FROM file_blob_pins WHERE expires_at <= now()")
            cur = await conn.execute("SELECT sha256 FROM file_blobs WHERE refs = 0")
            candidates = [r[0] for r in await cur.fetchall()]
        removed = 0
        for sha256 in candidates:
            removed += await self.try_collect(sha256)
        await self.rt.storage.sweep_staging(STAGING_MAX_AGE_SECS)
        return removed

    async def try_collect(self, sha256: str) -> int:
        """Remove one blob if nothing references or pins it; 1 if removed."""
        store = self.rt.store
        async with store.transaction() as conn:
            cur = await conn.execute(
                "SELECT size_bytes, refs FROM file_blobs WHERE sha256 = %s FOR UPDATE",
                (sha256,))
            row = await cur.fetchone()
            if row is None or row[1] != 0:
                return 0
            # The pins are read by a statement of their own, once the row is ours: an
            # upload pins while it holds the row (state.pin_blobs), and a condition of the
            # locking statement would be rechecked, after waiting for that upload, against
            # the statement's older snapshot, which misses its pin.
            cur = await conn.execute(
                "SELECT 1 FROM file_blob_pins WHERE sha256 = %s AND expires_at > now()"
                " LIMIT 1", (sha256,))
            if await cur.fetchone() is not None:
                return 0
            await self.rt.storage.delete(sha256)
            await conn.execute("DELETE FROM file_blobs WHERE sha256 = %s", (sha256,))
            await store.append(blob_stream(sha256), [NewEvent(
                ev.BlobCollected(sha256=sha256, size_bytes=int(row[0])),
                metadata=Metadata(command="collect_blob"))], ANY, conn=conn)
        return 1

    async def run(self) -> None:
        since_sweep = self.sweep_every  # sweep once at start
        while not self.stopping:
            try:
                while await self.collect_once() == BATCH:
                    pass
                if since_sweep >= self.sweep_every:
                    since_sweep = 0.0
                    await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the blob collector failed; retrying")
            await asyncio.sleep(self.interval)
            since_sweep += self.interval


@contextlib.asynccontextmanager
async def running_collector(services: Any) -> AsyncIterator[None]:
    """The collector as a background task for the life of the process's services."""
    collector = BlobCollector(files_runtime(services))
    task = asyncio.create_task(collector.run(), name="blob-collector")
    try:
        yield
    finally:
        # a database driver may turn the cancellation of a running query into an error of
        # its own, which the loop would log and survive: the flag ends it all the same
        collector.stopping = True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, timeout=10)
