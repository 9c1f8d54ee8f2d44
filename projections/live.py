"""The live phase of a build worker: batches from the process's log window.

A batch with nothing for the projector writes nothing: the worker moves its position in
memory and tells read-your-writes waiters at once (its read model is as it would be after
the batch: nothing in it concerned the projector). The checkpoint follows with the next
write, after `SAVE_IDLE` seconds of quiet, or every `SAVE_EVERY` seconds under traffic the
projector ignores, or at once after a flip or reset of its projector (which may have
changed whether this build is the active one). Exactly-once is untouched: every write
still compares-and-sets the checkpoint from the last one written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from event_store import RecordedEvent
from projections.errors import is_transient

if TYPE_CHECKING:
    from projections.worker import BuildWorker

Conn = psycopg.AsyncConnection[Any]

SAVE_IDLE = 1.0
"""Seconds of quiet after which a position moved in memory only is written."""
SAVE_EVERY = 5.0
"""Under continuous traffic that a projector ignores, its checkpoint is written this often."""


async def follow_live(worker: BuildWorker, conn: Conn) -> None:
    """The live phase: follow the log (from the process's log window) for ever."""
    subscription = worker.store.subscribe(
        worker.position,
        batch_size=worker.options.live_batch,
        poll_interval=worker.options.poll_interval,
        name=worker._label("live"),
    )
    try:
        while True:
            try:
                batch = await subscription.next_batch(SAVE_IDLE if worker._unsaved else None)
            except Exception as exc:
                if is_transient(exc):
                    raise
                raise await worker._read_failed(conn, exc) from exc
            if not batch:
                await _save(worker, conn)
            elif _must_write(worker, batch):
                await worker._commit(conn, batch, rebuilding=False)
                await _settle(worker, batch)
            else:
                _skip(worker, batch)
    finally:
        await subscription.close()


async def _settle(worker: BuildWorker, batch: Sequence[RecordedEvent]) -> None:
    """The projector's `settle` after a write, unless the batch was full: a backlog is
    read on at once, or the projector could fall behind for good."""
    if worker.projector.settle > 0 and len(batch) < worker.options.live_batch:
        await asyncio.sleep(worker.projector.settle)


def _must_write(worker: BuildWorker, batch: Sequence[RecordedEvent]) -> bool:
    """Whether the batch needs a transaction: events for the projector, a checkpoint
    left unsaved too long, or a flip or reset since the last write (which may have
    changed whether this build is the active one)."""
    wants = worker.projector.wants
    return (any(wants(e.type) for e in batch)
            or (worker._unsaved > 0
                and time.monotonic() - worker._unsaved_since >= SAVE_EVERY)
            or worker.runner.generation(worker.projector.name) != worker._generation)


def _skip(worker: BuildWorker, batch: Sequence[RecordedEvent]) -> None:
    """Nothing to write: move on in memory; the read model is as of the batch's end."""
    if not worker._unsaved:
        worker._unsaved_since = time.monotonic()
    worker._unsaved += len(batch)
    worker.position = batch[-1].position
    worker.runner.advanced(worker.projector.name, worker.position, active=worker.active)


async def _save(worker: BuildWorker, conn: Conn) -> None:
    """Write the checkpoint that moved in memory only: one statement in autocommit, one
    round trip (it ran in a pipelined transaction whose read inside took two more)."""
    if not worker._unsaved:
        return
    generation = worker.runner.generation(worker.projector.name)
    active = await worker._advance(conn, worker.saved, worker.position, worker._unsaved)
    worker._generation = generation
    worker._committed(worker.position, active)
