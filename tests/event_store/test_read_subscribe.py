"""Reading in commit order and subscribing: nothing skipped, nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from hypothesis import given
from hypothesis import strategies as st

from event_store import ANY, START, ConcurrencyError, NewEvent, Position
from tests.event_store.conftest import Noted


async def collect(subscription, expected_count: int, timeout: float = 15.0):
    received = []

    async def run():
        async for event in subscription:
            received.append(event)
            if len(received) >= expected_count:
                return

    await asyncio.wait_for(run(), timeout)
    return received


async def test_late_commit_is_not_skipped(store, pool):
    """A transaction that started first but commits last must still be read, in order."""
    async with pool.connection() as slow:
        async with slow.transaction():
            await store.append("late-a", [NewEvent(Noted(1, 1))], conn=slow)
            await store.append("late-b", [NewEvent(Noted(2, 1))])  # commits first
            visible = await store.read_all()
            assert visible == []  # held back behind the open transaction...
            async with pool.connection() as conn:
                assert await store.held_back(conn)
        # ...and once it commits, both, the earlier transaction first
    events = await store.read_all()
    assert [e.stream_id for e in events] == ["late-a", "late-b"]
    assert events[0].position < events[1].position


async def test_rolled_back_append_is_never_seen(store, pool):
    head = await store.head()
    subscription = store.subscribe(head, poll_interval=0.05, name="rollback")
    consumer = asyncio.create_task(collect(subscription, 1))
    try:
        async with pool.connection() as conn, conn.transaction(force_rollback=True):
            await store.append("gone-1", [NewEvent(Noted(1, 1))], conn=conn)
        with contextlib.suppress(Exception):
            async with store.transaction() as conn:
                await store.append("gone-2", [NewEvent(Noted(1, 2))], conn=conn)
                raise ValueError("abort")
        await store.append("kept", [NewEvent(Noted(1, 3))])
        (event,) = await consumer
    finally:
        consumer.cancel()
    assert event.stream_id == "kept"
    assert [e.stream_id for e in await store.read_all()] == ["kept"]
    assert await store.read_stream("gone-1") == []


async def test_read_all_pages_and_category(store):
    for i in range(25):
        await store.append(f"{'alpha' if i % 2 else 'beta'}-{i % 3}", [NewEvent(Noted(1, i))])
    seen, after = [], START
    while page := await store.read_all(after, limit=7):
        seen.extend(page)
        after = page[-1].position
    assert [e.data.n for e in seen] == list(range(25))
    alphas = await store.read_all(category="alpha")
    assert [e.data.n for e in alphas] == [i for i in range(25) if i % 2]
    only = await store.read_all(types=["Noted"], limit=3)
    assert len(only) == 3
    assert await store.head() == seen[-1].position


def test_positions_encode_opaquely():
    position = Position(1, 742, 10005)
    assert Position.parse(position.encode()) == position
    assert Position(1, 2, 3) < Position(1, 3, 0) < Position(2, 0, 0)
    for bad in ["", "1.2", "a.b.c", "1.2.3.4", "-1.2.3", "1.2.99999999999999999999", "1.2.3\n"]:
        try:
            Position.parse(bad)
        except Exception as exc:
            assert type(exc).__name__ == "InvalidPosition"
        else:
            raise AssertionError(bad)


@given(
    writers=st.lists(
        st.lists(st.tuples(st.integers(0, 4), st.integers(1, 5)), min_size=1, max_size=8),
        min_size=2,
        max_size=8,
    )
)
async def test_concurrent_writers_subscriber_sees_everything_once(store, writers):
    """2-8 writers on separate connections append random batches to random streams."""
    prefix = f"p{uuid.uuid4().hex[:8]}"
    head = await store.head()
    subscription = store.subscribe(head, batch_size=13, name="property")
    total = sum(size for batches in writers for _, size in batches)
    consumer = asyncio.create_task(collect(subscription, total))

    async def write(w: int, batches):
        ids = []
        for n, (stream, size) in enumerate(batches):
            events = [NewEvent(Noted(w, n * 10 + k)) for k in range(size)]
            await store.append(f"{prefix}-{stream}", events)
            ids.extend(e.event_id for e in events)
            await asyncio.sleep(0)
        return ids

    written = await asyncio.gather(*(write(w, b) for w, b in enumerate(writers)))
    received = await consumer
    committed = {i for ids in written for i in ids}
    got = [e.event_id for e in received]
    assert len(got) == len(set(got)) == total
    assert set(got) == committed
    positions = [e.position for e in received]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    by_stream: dict[str, list[int]] = {}
    for event in received:
        by_stream.setdefault(event.stream_id, []).append(event.version)
    for versions in by_stream.values():
        assert versions == list(range(versions[0], versions[0] + len(versions)))
    # each writer's own events arrive in the order it wrote them
    for w in range(len(writers)):
        mine = [e.data.n for e in received if e.data.writer == w]
        assert mine == sorted(mine)
    assert received == (await store.read_all(head, limit=10_000))


async def test_subscriber_survives_killed_connection(store, pool):
    """Its own connection (while behind the log window) or the window's, killed again and
    again: nothing is lost or repeated."""
    head = await store.head()
    subscription = store.subscribe(head, batch_size=7, name="killme")
    total = 300
    consumer = asyncio.create_task(collect(subscription, total, timeout=30))

    async def kill():
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name IN ('event_store-killme', 'event_store-window')"
                " AND datname = current_database()"
            )
            return len(await cur.fetchall())

    killed = 0
    for i in range(total):
        await store.append(f"kill-{i % 5}", [NewEvent(Noted(1, i))])
        if i % 60 == 30:
            await asyncio.sleep(0.02)
            killed += await kill()
    received = await consumer
    assert killed >= 3
    assert subscription.reconnects + store.window.reconnects >= 1
    assert [e.data.n for e in received] == list(range(total))


async def test_live_wakeup_is_prompt(store):
    head = await store.head()
    subscription = store.subscribe(head, poll_interval=30.0, name="prompt")
    consumer = asyncio.create_task(collect(subscription, 1, timeout=5))
    await asyncio.sleep(0.1)
    await store.append("prompt-1", [NewEvent(Noted(1, 1))])
    (event,) = await consumer  # well inside the 30 s poll: the wake-up did it
    assert event.stream_id == "prompt-1"


async def test_other_transactions_hold_readers_without_loss(store, pool):
    """An unrelated writing transaction holds readers back; they catch up after it ends."""
    async with pool.connection() as other:
        async with other.transaction():
            await other.execute("CREATE TEMP TABLE scratch (x int)")
            await other.execute("INSERT INTO scratch VALUES (1)")
            await other.execute("SELECT pg_current_xact_id()")
            await store.append("held-1", [NewEvent(Noted(1, 1))])
            assert await store.read_all() == []
    assert len(await store.read_all()) == 1



@given(
    transactions=st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(0, 2), st.integers(1, 3), st.booleans()),
                     min_size=1, max_size=4),
            st.integers(0, 15),  # ms the transaction stays open after its appends
            st.booleans(),  # takes its transaction id before its first append
        ),
        min_size=2,
        max_size=8,
    )
)
async def test_overlapping_transactions_keep_every_stream_in_version_order(store,
                                                                           transactions):
    """2-8 transactions overlap on 3 hot streams, appending batches with ANY or the exact
    version they read; each runs again whole after any ConcurrencyError (stream-order
    refusals included), as the command runner does. Every batch lands once, whole, and the
    log and a live subscription hand each stream out in version order."""
    prefix = f"o{uuid.uuid4().hex[:8]}"
    head = await store.head()
    total = sum(size for appends, _, _ in transactions for _, size, _ in appends)
    subscription = store.subscribe(head, batch_size=11, name="order-property")
    consumer = asyncio.create_task(collect(subscription, total, timeout=60))

    async def run(t: int, appends, hold_ms: int, early_id: bool) -> None:
        for _ in range(200):
            try:
                async with store.transaction() as conn:
                    if early_id:
                        await conn.execute("SELECT pg_current_xact_id()")
                    # as the command runner does: several streams' locks in one order first
                    await store.lock_streams(conn, {f"{prefix}-{a[0]}" for a in appends})
                    for n, (stream, size, exact) in enumerate(appends):
                        name = f"{prefix}-{stream}"
                        expected = ANY
                        if exact:
                            cur = await conn.execute(
                                "SELECT coalesce(max(version), 0) FROM events"
                                " WHERE stream_id = %s", (name,))
                            expected = (await cur.fetchone())[0]
                        batch = [NewEvent(Noted(t, n * 10 + k)) for k in range(size)]
                        await store.append(name, batch, expected, conn=conn)
                    await asyncio.sleep(hold_ms / 1000)
                return
            except ConcurrencyError:
                await asyncio.sleep(0)
        raise AssertionError(f"transaction {t} never committed")

    await asyncio.gather(*(run(t, *spec) for t, spec in enumerate(transactions)))
    received = await consumer
    logged = await store.read_all(head, limit=10_000)
    assert received == logged
    by_stream: dict[str, list[int]] = {}
    for event in logged:
        by_stream.setdefault(event.stream_id, []).append(event.version)
    for stream, versions in by_stream.items():
        assert versions == list(range(1, len(versions) + 1)), (stream, versions)
    for t, (appends, _, _) in enumerate(transactions):
        mine = [e.data.n for e in logged if e.data.writer == t]
        assert sorted(mine) == sorted(n * 10 + k for n, (_, size, _) in enumerate(appends)
                                      for k in range(size))
