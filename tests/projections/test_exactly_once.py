"""Live state equals a full rebuild; a runner killed at any point resumes exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.pq import TransactionStatus

from event_store import START, NewEvent
from projections import ProjectionRunner, catalog
from projections.errors import Retired
from projections.read_models.event_stats import EventStats, category
from projections.worker import BuildWorker
from tests.projections.conftest import (
    FAST,
    Added,
    Ignored,
    Journal,
    Ledger,
    Texted,
    active_build,
    expected_ledger,
    ledger_state,
    running,
    settled,
    snapshot,
    wait_until,
)

texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 3), st.integers(-50, 50), st.integers(1, 3)),
        st.tuples(st.just("text"), st.integers(0, 3), texts, st.integers(1, 2)),
        st.tuples(st.just("ignored"), st.integers(0, 3), st.none(), st.integers(1, 2)),
        st.tuples(st.just("redact"), st.integers(0, 100), st.none(), st.just(1)),
        st.tuples(st.just("pause"), st.just(0), st.none(), st.just(0)),
    ),
    min_size=1,
    max_size=25,
)


async def write(store, prefix: str, ops) -> None:
    notes: list[uuid.UUID] = []
    for kind, stream, value, count in ops:
        if kind == "add":
            await store.append(f"{prefix}-{stream}", [NewEvent(Added(value))] * 1 if count == 1
                               else [NewEvent(Added(value + k)) for k in range(count)])
        elif kind == "text":
            events = [NewEvent(Texted(f"{value}{k}")) for k in range(count)]
            notes += [e.event_id for e in events]
            await store.append(f"{prefix}-{stream}", events)
        elif kind == "ignored":
            await store.append(f"{prefix}-{stream}", [NewEvent(Ignored(k)) for k in range(count)])
        elif kind == "redact" and notes:
            await store.redact(notes[stream % len(notes)], Texted("[redacted]"), reason="test")
        elif kind == "pause":
            await asyncio.sleep(0.01)


async def whole_log(store) -> list:
    events: list = []
    after = START
    while page := await store.read_all(after, limit=1000):
        events += page
        after = page[-1].position
    return events


async def rebuild(store, runner, name: str) -> None:
    before = await active_build(store, name)
    async with store.pool.connection() as conn, conn.transaction():
        assert await catalog.request_rebuild(conn, name)
    runner.poke(name)

    async def flipped() -> bool:
        return await active_build(store, name) != before

    await wait_until(flipped, what=f"{name} to flip")
    await settled(store, [name])


@given(ops=operations)
async def test_live_state_equals_state_after_rebuild(store, ops):
    async with running(store, [Ledger(), EventStats(), Journal()]) as runner:
        await write(store, f"acct{uuid.uuid4().hex[:6]}", ops)
        await settled(store, ["ledger", "event_stats", "journal"])
        live = await ledger_state(store)
        assert live == await expected_ledger(store)
        journal = await snapshot(store, "journal")
        assert len(journal) == sum(row[2] for row in live[0])
        stats = [await snapshot(store, t) for t in ("event_type_counts", "stream_heads")]
        # event_stats is compared with itself below: check it against the log first, so an
        # empty (or wrong) live state cannot pass as "equal after the rebuild"
        log = await whole_log(store)
        assert {(row[0], row[1]): row[2] for row in stats[0]} == Counter(
            (category(e.stream_id), e.type) for e in log)
        assert {row[0] for row in stats[1]} == {e.stream_id for e in log}
        await rebuild(store, runner, "ledger")
        await rebuild(store, runner, "event_stats")
        await rebuild(store, runner, "journal")
        assert await ledger_state(store) == live
        assert await snapshot(store, "journal") == journal
        assert [await snapshot(store, t) for t in ("event_type_counts", "stream_heads")] == stats


class SlowLedger(Ledger):
    """Holds each batch's transaction open a little, so kills land inside it."""

    async def apply(self, events, ctx):
        await super().apply(events, ctx)
        await asyncio.sleep(0.002)


async def terminate_writers(store) -> int:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name LIKE 'projection-ledger-%%-write'"
            " AND datname = current_database()")
        return len(await cur.fetchall())


@given(kills=st.lists(st.tuples(st.sampled_from(["cancel", "terminate"]),
                                st.floats(0.0, 0.08)), min_size=1, max_size=4))
async def test_killed_runner_resumes_exactly_once(store, kills):
    prefix = f"kill{uuid.uuid4().hex[:6]}"
    for i in range(60):
        await store.append(f"{prefix}-{i % 5}", [NewEvent(Added(i)), NewEvent(Texted(str(i)))])
    runner = ProjectionRunner(store, [SlowLedger()], options=FAST)
    await runner.start()
    try:
        for n, (how, delay) in enumerate(kills):
            await asyncio.sleep(delay)
            if how == "terminate":
                await terminate_writers(store)
            else:
                await runner.close()  # cancels the worker wherever it is
                runner = ProjectionRunner(store, [SlowLedger()], options=FAST)
                await runner.start()
            await store.append(f"{prefix}-x", [NewEvent(Added(n)), NewEvent(Texted(f"k{n}"))])
        await settled(store, ["ledger"])
        assert await ledger_state(store) == await expected_ledger(store)
    finally:
        await runner.close()


async def test_a_batch_behind_a_moved_checkpoint_writes_nothing(store):
    """A pipelined batch (BEGIN to COMMIT in one round trip) cannot look at its
    checkpoint's compare-and-set before its writes are sent: a moved checkpoint fails
    the statement (migration 0041), the batch rolls back whole, and the worker learns it
    was overtaken (Retired); its connection is usable after."""
    async with running(store, [Ledger()]) as runner:
        await store.append("acct-moved", [NewEvent(Added(5))])
        await settled(store, ["ledger"])
        before = await ledger_state(store)
        async with store.pool.connection() as conn:
            (build,) = await catalog.load_builds(conn, "ledger")
        stale = BuildWorker(runner, Ledger(), build)
        stale.saved = START  # it believes the checkpoint is where the build began
        events = await store.read_all(START, limit=100)
        conn = await stale._connect("write")
        try:
            with pytest.raises(Retired):
                await stale._commit(conn, events, rebuilding=False)
            assert conn.info.transaction_status == TransactionStatus.IDLE
            assert await (await conn.execute("SELECT 1")).fetchone() == (1,)
        finally:
            await conn.close()
        assert await ledger_state(store) == before  # applied once, by the live worker
        async with store.pool.connection() as conn:
            (after,) = await catalog.load_builds(conn, "ledger")
        assert after.position == build.position
