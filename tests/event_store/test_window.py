"""The process's log window (event_store/window.py): what it serves at its edges, readers
held back behind the horizon, and readers moving between the database and the window
while writers append concurrently."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from event_store import START, NewEvent, Position
from event_store.window import LogWindow
from tests.event_store.conftest import Noted


async def _caught_up(window: LogWindow, store) -> None:
    head = await store.head()
    for _ in range(500):
        if window.end is not None and window.end >= head:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the window did not reach {head}: {window.end}")


async def collect(subscription, total: int, timeout: float = 30) -> list:
    got: list = []

    async def run() -> None:
        async for batch in subscription.batches():
            got.extend(batch)
            if len(got) >= total:
                return

    await asyncio.wait_for(run(), timeout)
    return got


@given(
    appends=st.lists(st.tuples(st.sampled_from(["wa", "wb"]), st.integers(1, 4)),
                     min_size=1, max_size=12),
    capacity=st.integers(1, 12),
    read_batch=st.integers(1, 5),
    limit=st.integers(1, 6),
)
@settings(max_examples=25)
async def test_the_window_serves_exactly_the_log_between_its_edges(
        store, appends, capacity, read_batch, limit):
    """For every reader position: behind S it is not served (None); at S, inside and at E
    it gets exactly what the database would give it (by category too); past E, None."""
    tag = uuid.uuid4().hex[:6]
    head = await store.head()
    window = LogWindow(store, capacity=capacity, read_batch=read_batch)
    window.ensure_started()
    try:
        await _caught_up(window, store)
        for n, (category, size) in enumerate(appends):
            await store.append(f"{category}{tag}-{n % 3}",
                               [NewEvent(Noted(n, k)) for k in range(size)])
        store.signal.fire()
        await _caught_up(window, store)
        log = await store.read_all(head, limit=10_000)
        start, end = window.start, window.end
        assert start is not None and end == log[-1].position
        # contiguous and no bigger than its capacity
        held = window.serve(start, 10_000)
        assert held is not None
        assert held[0] == [e for e in log if e.position > start]
        assert len(held[0]) <= capacity
        for after in [head, *(e.position for e in log)]:
            served = window.serve(after, limit)
            if after < start:
                assert served is None, after
                continue
            assert served is not None, after
            batch, covered = served
            assert batch == await store.read_all(after, limit=limit)
            assert covered == (batch[-1].position if len(batch) == limit else end)
            for category in (f"wa{tag}", f"wb{tag}"):
                by_category = window.serve(after, limit, category)
                assert by_category is not None
                assert by_category[0] == await store.read_all(after, limit=limit,
                                                              category=category)
        assert window.serve(Position(end.epoch, end.transaction_id + 1, 0), limit) is None
    finally:
        await window.close()
    assert window.serve(head, limit) is None  # closed: every reader reads for itself


async def test_readers_in_the_window_are_held_back_behind_an_open_transaction(
        store, database_url):
    """An older transaction that appended and has not committed: the younger commit after
    it is not served (the window stops before it); once the older commits, readers get
    both, in log order."""
    head = await store.head()
    subscription = store.subscribe(head, name="held-window")
    store.window.ensure_started()
    await _caught_up(store.window, store)
    holder = await psycopg.AsyncConnection.connect(database_url)
    try:
        await holder.execute("SELECT pg_current_xact_id()")  # older than the next append
        await store.append("held-young", [NewEvent(Noted(2, 1))])
        received = asyncio.create_task(collect(subscription, 2))
        await asyncio.sleep(0.3)
        assert not received.done()
        assert store.window.end == head  # nothing past the horizon is in the window
        assert subscription.held_back_secs > 0.1
        await store.append("held-old", [NewEvent(Noted(1, 1))], conn=holder)
        await holder.commit()
    finally:
        await holder.close()
    store.committed()
    got = await asyncio.wait_for(received, 10)
    assert [e.stream_id for e in got] == ["held-old", "held-young"]
    assert got == await store.read_all(head)
    assert subscription.held_back_secs == 0.0


@given(
    writers=st.lists(st.lists(st.integers(1, 4), min_size=1, max_size=6),
                     min_size=1, max_size=5),
    capacity=st.integers(2, 16),
    read_batch=st.integers(1, 6),
    readers=st.lists(st.tuples(st.integers(0, 30), st.integers(1, 9)),
                     min_size=1, max_size=4),
)
@settings(max_examples=15)
async def test_concurrent_appends_reach_every_reader_once_in_order(
        store, writers, capacity, read_batch, readers):
    """Writers append concurrently while readers, some starting far behind a small window
    (they read the database until they are inside it), follow: every reader gets exactly
    the log after its own position, in order, nothing lost or repeated."""
    await store.window.close()
    store.window = LogWindow(store, capacity=capacity, read_batch=read_batch)
    prefix = f"c{uuid.uuid4().hex[:6]}"
    for n in range(30):  # history to start behind in
        await store.append(f"{prefix}-old", [NewEvent(Noted(99, n))])
    before = await store.read_all(START, limit=100_000)
    starts = [before[-1 - back].position if back < len(before) else START
              for back, _ in readers]
    total = sum(sum(plan) for plan in writers)
    subscriptions = [store.subscribe(start, batch_size=size, name=f"r{i}")
                     for i, ((_, size), start) in enumerate(zip(readers, starts, strict=True))]
    expected_counts = [len([e for e in before if e.position > s]) + total for s in starts]
    collectors = [asyncio.create_task(collect(sub, count))
                  for sub, count in zip(subscriptions, expected_counts, strict=True)]

    async def write(w: int, plan: list[int]) -> None:
        for n, size in enumerate(plan):
            await store.append(f"{prefix}-{w}", [NewEvent(Noted(w, n * 10 + k))
                                                  for k in range(size)])
            await asyncio.sleep(0)

    await asyncio.gather(*(write(w, plan) for w, plan in enumerate(writers)))
    for start, collector in zip(starts, collectors, strict=True):
        got = await collector
        assert got == await store.read_all(start, limit=100_000)


async def test_a_prompt_reader_runs_before_the_others_are_woken(store):
    """`subscribe(prompt=True)` (the gateway's fan-out): when the log grows, it is woken
    first, and what it does before it next waits is done before the other readers in
    the window are woken, even one that was waiting longer."""
    window = store.window
    window.ensure_started()
    await _caught_up(window, store)
    head = await store.head()
    plain = store.subscribe(head, name="plain")
    prompt = store.subscribe(head, name="prompt", prompt=True)
    order: list[str] = []

    async def read(subscription, name: str) -> None:
        batch = await subscription.next_batch(idle=10)
        assert batch
        order.append(name)  # no await between the wake-up and this

    try:
        plain_task = asyncio.create_task(read(plain, "plain"))
        await asyncio.sleep(0.05)  # the plain reader waits first
        prompt_task = asyncio.create_task(read(prompt, "prompt"))
        await asyncio.sleep(0.05)
        assert order == []
        await store.append(f"prompt{uuid.uuid4().hex[:6]}-1", [NewEvent(Noted(0, 1))])
        await asyncio.wait_for(asyncio.gather(plain_task, prompt_task), 10)
        assert order == ["prompt", "plain"]
    finally:
        await plain.close()
        await prompt.close()
