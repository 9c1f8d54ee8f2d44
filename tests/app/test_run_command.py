"""The command runner: one transaction per attempt, whole-command retries after a lost race,
appends to several streams without deadlocks, refusals that keep their trace."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chatalot.command_tx import CommandTx, run_command
from chatalot.domain.errors import DomainError
from event_store import ConcurrencyError, EventStore, Metadata, NewEvent
from tests.event_store.conftest import Noted, make_registry

META = Metadata(command="test")


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def store(pool: Any) -> AsyncIterator[EventStore]:
    store = EventStore(pool, make_registry())
    await store.start()
    yield store
    await store.close()


async def test_opposite_stream_orders_neither_deadlock_nor_retry(store):
    """Pairs of commands append to streams A and B in opposite orders, their flushes
    overlapping. Without the canonical stream locks they deadlock (PostgreSQL then aborts
    one after deadlock_timeout and the runner retries it); with them they queue, and each
    command's work runs exactly once."""
    calls: Counter[str] = Counter()
    pairs = 6

    def command(name: str, first: str, second: str, barrier: asyncio.Barrier):
        async def work(tx: CommandTx) -> None:
            calls[name] += 1
            tx.append(first, Noted(1, calls[name]))
            tx.append(second, Noted(2, calls[name]))
            if calls[name] == 1:
                await barrier.wait()  # both flush at once
        return work

    for i in range(pairs):
        barrier = asyncio.Barrier(2)
        a, b = f"pair{i}-a", f"pair{i}-b"
        await asyncio.gather(
            run_command(store, META, now, command(f"ab{i}", a, b, barrier)),
            run_command(store, META, now, command(f"ba{i}", b, a, barrier)),
        )
    assert set(calls.values()) == {1}, f"some commands ran again: {dict(calls)}"
    for event in await store.read_all():
        assert event.data.n == 1


async def test_a_lost_race_runs_the_whole_command_again_and_the_log_stays_in_order(store):
    """Commands that take their transaction id early (a decision-table write, as the
    Idempotency-Key claim is) and then append to one hot stream: the store refuses appends
    that would sort before a younger transaction's, the runner runs those commands again,
    and every event lands once, the stream in version order in the log."""
    commands = 12
    calls: Counter[int] = Counter()
    async with store.pool.connection() as conn:
        await conn.execute("CREATE TABLE scratch (id int)")

    def command(i: int):
        async def work(tx: CommandTx) -> int:
            calls[i] += 1
            await tx.execute("INSERT INTO scratch VALUES (%s)", (i,))  # the xid is now fixed
            await asyncio.sleep(0.01 * (i % 3))
            tx.append("hot", Noted(i, 0))
            return i
        return work

    results = await asyncio.gather(*(run_command(store, META, now, command(i))
                                     for i in range(commands)))
    assert sorted(r for r, _ in results) == list(range(commands))
    hot = [e for e in await store.read_all() if e.stream_id == "hot"]
    assert [e.version for e in hot] == list(range(1, commands + 1))
    assert sorted(e.data.writer for e in hot) == list(range(commands))
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM scratch")
        assert (await cur.fetchone())[0] == commands  # the retried attempts rolled back
    positions = {p for _, p in results}
    assert len(positions) == commands
    assert sum(calls.values()) >= commands


async def test_refuse_commits_what_was_recorded_then_raises(store):
    async def work(tx: CommandTx) -> None:
        tx.append("audit", Noted(1, 1))
        tx.refuse(DomainError("unauthorized", "no"))

    with pytest.raises(DomainError) as err:
        await run_command(store, META, now, work)
    assert err.value.code == "unauthorized"
    assert [e.data.n for e in await store.read_stream("audit")] == [1]


async def test_an_exception_rolls_everything_back(store):
    async def work(tx: CommandTx) -> None:
        await tx.execute("CREATE TABLE gone (id int)")
        tx.append("never", Noted(1, 1))
        raise DomainError("bad_request", "no")

    with pytest.raises(DomainError):
        await run_command(store, META, now, work)
    assert await store.read_stream("never") == []
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT to_regclass('gone')")
        assert (await cur.fetchone())[0] is None


async def test_a_command_that_records_nothing_is_a_bug(store):
    async def work(tx: CommandTx) -> None:
        return None

    with pytest.raises(RuntimeError, match="at least one event"):
        await run_command(store, META, now, work)


async def test_a_command_that_may_do_nothing_answers_without_a_position(store):
    async def work(tx: CommandTx) -> int:
        await tx.execute("CREATE TABLE kept (id int)")
        return 0

    assert await run_command(store, META, now, work, may_record_nothing=True) == (0, None)
    async with store.pool.connection() as conn:  # it committed all the same
        cur = await conn.execute("SELECT to_regclass('kept') IS NOT NULL")
        assert (await cur.fetchone())[0]


async def test_an_exact_version_conflict_is_retried_with_fresh_state_then_reported(store):
    """A command that appends at the version it read retries after losing; one that keeps
    losing (the expected version never matches) ends with the ConcurrencyError."""
    await store.append("counter", [NewEvent(Noted(0, 0))])
    attempts = 0

    async def stale(tx: CommandTx) -> None:
        nonlocal attempts
        attempts += 1
        tx.append("counter", Noted(1, attempts), expected=7)

    with pytest.raises(ConcurrencyError):
        await run_command(store, META, now, stale, attempts=3)
    assert attempts == 3
    assert len(await store.read_stream("counter")) == 1
