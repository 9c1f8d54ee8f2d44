"""Test events and projectors, and helpers that run a runner against real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, ClassVar

import msgspec
import pytest
from psycopg import sql

from event_store import EventRedacted, EventRegistry, EventStore, RecordedEvent
from projections import (
    ProjectionContext,
    ProjectionRunner,
    Projector,
    RunnerOptions,
    on,
    read_model,
    read_status,
)


class Added(msgspec.Struct, frozen=True):
    amount: int


class Texted(msgspec.Struct, frozen=True):
    text: str


class Ignored(msgspec.Struct, frozen=True):
    """A type no test projector handles: checkpoints must still move past it."""

    n: int = 0


def make_registry() -> EventRegistry:
    return EventRegistry([Added, Texted, Ignored])


class Ledger(Projector):
    """Handler style, deliberately not idempotent: applying an event twice shows."""

    name = "ledger"
    version = 1
    tables: ClassVar = {
        "ledger_totals": "stream_id text PRIMARY KEY, total bigint NOT NULL,"
                         " events bigint NOT NULL",
        "ledger_notes": "event_id uuid PRIMARY KEY, stream_id text NOT NULL,"
                        " body text NOT NULL, redacted boolean NOT NULL",
    }
    indexes: ClassVar = ["CREATE INDEX ON {ledger_notes} (stream_id)"]

    @on(Added)
    async def added(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await ctx.conn.execute(
            sql.SQL(
                "INSERT INTO {} AS t VALUES (%s, %s, 1) ON CONFLICT (stream_id)"
                " DO UPDATE SET total = t.total + excluded.total, events = t.events + 1"
            ).format(ctx.table("ledger_totals")),
            (event.stream_id, event.data.amount),
        )

    @on(Texted)
    async def texted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await ctx.conn.execute(
            sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(ctx.table("ledger_notes")),
            (event.event_id, event.stream_id, event.data.text, event.redacted),
        )

    @on(EventRedacted)
    async def redacted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        current = await ctx.current(event.data.stream_id, event.data.event_id)
        assert current is not None
        await ctx.conn.execute(
            sql.SQL("UPDATE {} SET body = %s, redacted = true WHERE event_id = %s").format(
                ctx.table("ledger_notes")),
            (current.data.text, current.event_id),
        )


class LedgerV2(Ledger):
    version = 2


class Tally(Projector):
    """Batch style: counts events per type; fails on Added(13) while `broken` is set."""

    name = "tally"
    version = 1
    event_types = frozenset({"Added", "Texted"})
    tables: ClassVar = {"tally": "type text PRIMARY KEY, n bigint NOT NULL"}
    broken: ClassVar[bool] = False

    async def apply(self, events: Any, ctx: ProjectionContext) -> None:
        counts: dict[str, int] = {}
        for event in events:
            if type(self).broken and event.type == "Added" and event.data.amount == 13:
                raise ValueError("unlucky number")
            counts[event.type] = counts.get(event.type, 0) + 1
        await ctx.conn.execute(
            sql.SQL(
                "INSERT INTO {} AS t SELECT * FROM unnest(%s::text[], %s::bigint[])"
                " ON CONFLICT (type) DO UPDATE SET n = t.n + excluded.n"
            ).format(ctx.table("tally")),
            (list(counts), list(counts.values())),
        )


FAST = RunnerOptions(
    bulk_batch=40,
    live_batch=7,
    lease_interval=0.05,
    poll_interval=0.2,
    recheck_interval=0.5,
    drop_delay=0.1,
    retry_base=0.05,
    retry_max=0.3,
    node="test",
)


@pytest.fixture
def registry() -> EventRegistry:
    return make_registry()


@pytest.fixture
async def store(pool: Any, registry: EventRegistry) -> AsyncIterator[EventStore]:
    store = EventStore(pool, registry)
    await store.start()
    yield store
    await store.close()


@contextlib.asynccontextmanager
async def running(
    store: EventStore, projectors: Iterable[Projector], options: RunnerOptions = FAST, **kw: Any
) -> AsyncIterator[ProjectionRunner]:
    runner = ProjectionRunner(store, projectors, options=options, **kw)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.close()


async def statuses(store: EventStore) -> dict[str, Any]:
    async with store.pool.connection() as conn, conn.transaction():
        return {s.name: s for s in await read_status(conn)}


async def settled(store: EventStore, names: Iterable[str], timeout: float = 20.0) -> None:
    """Wait until each projector is live on a single build at the head of the log, and
    no committed event is hidden behind a transaction still running (another test
    suite's, on a shared cluster: the horizon is cluster-wide)."""
    names = list(names)
    deadline = time.monotonic() + timeout
    while True:
        async with store.pool.connection() as conn:
            held_back = await store.held_back(conn)  # first: the statuses come after it
            cur = await conn.execute(
                "SELECT name, count(*) FROM projection_builds GROUP BY name")
            builds = dict(await cur.fetchall())
        found = await statuses(store)
        if not held_back and all(
            n in found and found[n].state == "live" and found[n].lag_events == 0
            and builds.get(n) == 1
            for n in names
        ):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled: {found} builds={builds}")
        await asyncio.sleep(0.05)


async def snapshot(store: EventStore, table: str) -> list[tuple[Any, ...]]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            sql.SQL("SELECT * FROM {}").format(read_model(table)))
        return sorted((tuple(row) for row in await cur.fetchall()), key=repr)


async def active_build(store: EventStore, name: str) -> int | None:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT active_build FROM projection_versions WHERE name = %s", (name,))
        row = await cur.fetchone()
        return row[0] if row else None


async def expected_ledger(store: EventStore) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The ledger's tables as a fold of the whole log, in Python."""
    totals: dict[str, list[int]] = {}
    notes: list[tuple[Any, ...]] = []
    after = None
    from event_store import START

    after = START
    while page := await store.read_all(after, limit=1000):
        for event in page:
            if event.type == "Added":
                found = totals.setdefault(event.stream_id, [0, 0])
                found[0] += event.data.amount
                found[1] += 1
            elif event.type == "Texted":
                notes.append((event.event_id, event.stream_id, event.data.text, event.redacted))
        after = page[-1].position
    return (
        sorted((s, t, n) for s, (t, n) in totals.items()),
        sorted(notes),
    )


async def ledger_state(store: EventStore) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    return (
        sorted(await snapshot(store, "ledger_totals")),
        sorted(await snapshot(store, "ledger_notes")),
    )


async def wait_until(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Journal(Projector):
    """Insert-only, loaded with COPY: one row per Added event."""

    name = "journal"
    version = 1
    event_types = frozenset({"Added"})
    pipeline = False
    tables: ClassVar = {"journal": "event_id uuid PRIMARY KEY, stream_id text NOT NULL,"
                                   " amount bigint NOT NULL"}

    async def apply(self, events: Any, ctx: ProjectionContext) -> None:
        await ctx.copy("journal", ["event_id", "stream_id", "amount"],
                       ((e.event_id, e.stream_id, e.data.amount) for e in events))
