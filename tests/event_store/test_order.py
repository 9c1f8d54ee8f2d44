"""Issue 19, one race at a time: stream order equals log order, a batch goes in whole or not
at all, and opposite-order transactions deadlock (today, at the store level).

The log is ordered by the writing transaction's id, fixed at its first write; the first two
tests state what the store must do about that (they fail before the issue 19 fix).
"""

from __future__ import annotations

import asyncio

import pytest

from event_store import (
    ANY,
    NO_STREAM,
    ConcurrencyError,
    EventStoreError,
    ExpectedVersion,
    IdempotencyConflict,
    NewEvent,
)
from tests.event_store.conftest import Noted


def _shown(log) -> list[str]:
    return [f"{e.stream_id} v{e.version} at {e.position}" for e in log]


@pytest.mark.parametrize("expected", [ANY, 1], ids=["any", "expecting-1"])
async def test_an_older_transaction_cannot_append_on_top_of_a_younger_commit(
        store, expected: ExpectedVersion) -> None:
    """T2 appends to X (its place in the log is now fixed); T1 appends S v1 and commits;
    T2 appending S v2 would put v2 before v1 in the log. It must be refused with a
    (retryable) concurrency error; T2 then rolls back and a fresh attempt lands in order."""
    refused: EventStoreError | None = None
    try:
        async with store.transaction() as t2:
            await store.append("x-1", [NewEvent(Noted(2, 1))], conn=t2)
            await store.append("s-1", [NewEvent(Noted(1, 1))], NO_STREAM)  # T1, committed
            await store.append("s-1", [NewEvent(Noted(2, 2))], expected, conn=t2)
    except EventStoreError as exc:  # T2 rolled back
        refused = exc
    log = await store.read_all()
    versions = [e.version for e in log if e.stream_id == "s-1"]
    assert versions == sorted(versions), f"s-1 out of version order in the log: {_shown(log)}"
    assert isinstance(refused, ConcurrencyError), (
        f"T2's append on top of a younger commit was not refused: {refused!r}")
    assert [(e.stream_id, e.version) for e in log] == [("s-1", 1)]  # nothing of T2

    async with store.transaction() as retry:  # the whole attempt again, in a new transaction
        await store.append("x-1", [NewEvent(Noted(2, 1))], conn=retry)
        await store.append("s-1", [NewEvent(Noted(2, 2))], expected, conn=retry)
    log = await store.read_all()
    assert [(e.stream_id, e.version) for e in log] == [("s-1", 1), ("x-1", 1), ("s-1", 2)]


async def _until_blocked_or_done(pool, task: asyncio.Task) -> None:
    """Until some backend of this database waits for a lock (bounded), or `task` ended."""
    async with pool.connection() as conn:
        for _ in range(500):
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
            if (await cur.fetchone())[0] or task.done():
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the batch neither waited for the other transaction nor finished")


@pytest.mark.parametrize("mode", ["exact", "no-stream"])
async def test_a_batch_that_lost_some_of_its_versions_goes_in_not_at_all(
        store, pool, mode: str) -> None:
    """A transaction (open, not committed) holds versions N+1 and N+2; a batch of 3 expecting
    version N, inside a transaction, waits for it. When it commits, the batch has lost two of
    its three versions: it must be refused whole with ConcurrencyError, not half inserted
    (today: N+3 goes in and the caller hears IdempotencyConflict for ids nobody used)."""
    stream = "batch-1"
    expected: ExpectedVersion = NO_STREAM
    if mode == "exact":
        await store.append(stream, [NewEvent(Noted(0, 1))], NO_STREAM)
        expected = 1
    ours = [NewEvent(Noted(1, n)) for n in range(3)]

    async def our_transaction() -> BaseException | None:
        async with store.transaction() as conn:
            try:
                await store.append(stream, ours, expected, conn=conn)
            except EventStoreError as exc:
                return exc  # a caller that carries on and commits the rest of its work
        return None

    async with store.transaction() as other:
        await store.append(stream, [NewEvent(Noted(2, 1)), NewEvent(Noted(2, 2))], expected,
                           conn=other)
        task = asyncio.create_task(our_transaction())
        await _until_blocked_or_done(pool, task)
    refused = await asyncio.wait_for(task, 10)

    log = await store.read_all()
    mine = [e for e in log if e.event_id in {o.event_id for o in ours}]
    assert not mine, (f"{len(mine)} of the 3 events of a refused batch committed "
                      f"(versions {[e.version for e in mine]}); the caller was told "
                      f"{refused!r}")
    assert isinstance(refused, ConcurrencyError), refused
    assert not isinstance(refused, IdempotencyConflict)
    base = 1 if mode == "exact" else 0
    assert [e.version for e in log] == list(range(1, base + 3))


async def test_opposite_order_appends_deadlock_unless_the_streams_are_locked_first(
        store) -> None:
    """Two transactions append to A then B, and to B then A: each waits for the other's
    uncommitted version and PostgreSQL aborts one after deadlock_timeout (1 s), holding every
    log reader back meanwhile. Taking both streams' locks first, in the store's canonical
    order (what the command runner does), they queue: both commit, nothing deadlocks."""

    async def race(locked: bool) -> list:
        both_started = asyncio.Barrier(2)
        first_in = asyncio.Event()
        prefix = "locked" if locked else "bare"

        async def transaction(first: str, second: str, writer: int) -> None:
            first, second = f"{prefix}-{first}", f"{prefix}-{second}"
            if locked and writer == 2:
                await first_in.wait()  # writer 1 holds its first version meanwhile
            async with store.transaction() as conn:
                if locked:
                    await store.lock_streams(conn, {first, second})
                await store.append(first, [NewEvent(Noted(writer, 1))], conn=conn)
                if locked:
                    first_in.set()
                    await asyncio.sleep(0.05)
                else:
                    await both_started.wait()
                await store.append(second, [NewEvent(Noted(writer, 2))], conn=conn)

        return await asyncio.wait_for(asyncio.gather(
            transaction("a", "b", 1), transaction("b", "a", 2), return_exceptions=True), 30)

    results = await race(locked=False)
    assert sorted(type(r).__name__ for r in results) == ["DeadlockDetected", "NoneType"]
    survivor = 1 if results[0] is None else 2
    log = await store.read_all()
    assert sorted((e.stream_id, e.data.writer, e.version) for e in log) == [
        ("bare-a", survivor, 1), ("bare-b", survivor, 1)]

    assert await race(locked=True) == [None, None]
    for stream in ("locked-a", "locked-b"):
        versions = [e.version for e in await store.read_all() if e.stream_id == stream]
        assert versions == [1, 2]
