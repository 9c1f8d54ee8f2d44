"""Zero-downtime rebuilds: continuous writes and queries across the flip, version bumps,
old tables dropped after (not inside) the flip, reset."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
from psycopg import sql

from event_store import NewEvent
from projections import ProjectionWatcher, catalog, read_model
from tests.projections.conftest import (
    Added,
    Ledger,
    LedgerV2,
    Texted,
    active_build,
    expected_ledger,
    ledger_state,
    running,
    settled,
    statuses,
    wait_until,
)


async def schemas(store) -> set[str]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'ledger_v%'")
        return {row[0] for row in await cur.fetchall()}


async def test_rebuild_during_writes_misses_nothing_and_queries_never_fail(store):
    prefix = f"rw{uuid.uuid4().hex[:6]}"
    for i in range(400):
        await store.append(f"{prefix}-{i % 9}", [NewEvent(Added(i)), NewEvent(Texted(str(i)))])
    watcher = ProjectionWatcher(store.pool)
    await watcher.start()
    stop = asyncio.Event()
    failures: list[BaseException] = []
    lagged: list[str] = []
    queries = written = 0

    async def writer() -> None:
        nonlocal written
        while not stop.is_set():
            result = await store.append(f"{prefix}-w{written % 4}", [NewEvent(Added(1))])
            # read-your-writes across the flip: never a window where it cannot be served
            if not await watcher.wait_for(["ledger"], result.position, 2.0):
                lagged.append(result.position.encode())
            written += 1

    async def going_on(writes: int, reads: int) -> None:
        """Wait until the writer and the readers have done this much more (both still
        running, on whichever build is active)."""
        target_writes, target_reads = written + writes, queries + reads

        async def done() -> bool:
            return written >= target_writes and queries >= target_reads

        await wait_until(done, what=f"{writes} more writes and {reads} more queries")

    async def reader() -> None:
        nonlocal queries
        async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as c:
            while not stop.is_set():
                try:
                    await c.execute(sql.SQL("SELECT count(*), sum(total) FROM {}").format(
                        read_model("ledger_totals")))
                    await c.execute(sql.SQL("SELECT count(*) FROM {} WHERE stream_id = %s")
                                    .format(read_model("ledger_notes")), (f"{prefix}-1",))
                    queries += 1
                except psycopg.Error as exc:
                    failures.append(exc)
                await asyncio.sleep(0)

    async with running(store, [Ledger()]) as runner:
        await settled(store, ["ledger"])
        first = await active_build(store, "ledger")
        tasks = [asyncio.create_task(writer()), asyncio.create_task(reader()),
                 asyncio.create_task(reader())]
        await going_on(writes=5, reads=10)
        async with store.pool.connection() as conn, conn.transaction():
            assert await catalog.request_rebuild(conn, "ledger")
            # a second request while one is under way is not another rebuild
        async with store.pool.connection() as conn, conn.transaction():
            assert not await catalog.request_rebuild(conn, "ledger")
        runner.poke("ledger")

        async def flipped() -> bool:
            return await active_build(store, "ledger") != first

        await wait_until(flipped, what="the flip")
        await going_on(writes=10, reads=20)  # keep writing and reading on the new build
        stop.set()
        await asyncio.gather(*tasks)
        await watcher.close()
        await settled(store, ["ledger"])
        assert not failures, failures[:3]
        assert not lagged, lagged[:3]
        assert queries > 20
        assert await ledger_state(store) == await expected_ledger(store)
        # the replaced build's tables are dropped after the flip
        await wait_until(lambda: _only_active_schema(store), what="the old build's drop")


async def _only_active_schema(store) -> bool:
    version = (await statuses(store))["ledger"].version
    return await schemas(store) == {f"ledger_v{version}_b{await active_build(store, 'ledger')}"}


async def test_new_version_rebuilds_automatically_beside_the_old(store, caplog):
    for i in range(120):
        await store.append(f"ver-{i % 4}", [NewEvent(Added(i)), NewEvent(Texted(str(i)))])
    async with running(store, [Ledger()]):
        await settled(store, ["ledger"])
        v1 = await ledger_state(store)
    async with running(store, [LedgerV2()]):
        await wait_until(lambda: _version_is(store, 2), what="v2 to become active")
        await settled(store, ["ledger"])
        assert await ledger_state(store) == v1
        await wait_until(lambda: _only_active_schema(store), what="v1 to be dropped")
        (name,) = await schemas(store)
        assert name.startswith("ledger_v2_")
        async with store.pool.connection() as conn:  # built concurrently, and valid
            cur = await conn.execute(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND NOT i.indisprimary", (name,))
            assert [row[0] for row in await cur.fetchall()] == [True]
    # an older node (v1 code) must not roll the projection back: it stays idle. Its first
    # plan is committed before it says so; then the v2 build must be the only one.
    async with running(store, [Ledger()]):
        async def planned_to_stay_idle() -> bool:
            return any("stays idle" in r.getMessage() for r in caplog.records)

        await wait_until(planned_to_stay_idle, what="the v1 node's plan")
        assert (await statuses(store))["ledger"].version == 2
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT version FROM projection_builds WHERE name = 'ledger'")
            assert await cur.fetchall() == [(2,)]


async def _version_is(store, version: int) -> bool:
    found = (await statuses(store)).get("ledger")
    return found is not None and found.version == version


async def test_reset_drops_everything_and_the_runner_starts_over(store):
    for i in range(50):
        await store.append(f"rst-{i % 3}", [NewEvent(Added(i))])
    async with running(store, [Ledger()]) as runner:
        await settled(store, ["ledger"])
        before = await ledger_state(store)
        old = await active_build(store, "ledger")
        async with store.pool.connection() as conn, conn.transaction():
            dropped = await catalog.reset(conn, ["ledger"])
        assert dropped == [f"ledger_v1_b{old}"]
        runner.poke("ledger")

        async def rebuilt() -> bool:
            current = await active_build(store, "ledger")
            return current is not None and current != old

        await wait_until(rebuilt, what="a fresh build")
        await settled(store, ["ledger"])
        assert await ledger_state(store) == before


def test_indexes_are_declared_as_plain_create_index():
    import pytest

    from projections.errors import InvalidProjector
    from projections.projector import validate

    statements = Ledger().index_statements("s")
    assert all("CONCURRENTLY" in s.as_string(None) for s in statements)

    class Bad(Ledger):
        name = "bad_ledger"
        tables = {"bad_notes": "id int"}
        indexes = ["DROP TABLE {bad_notes}"]

    with pytest.raises(InvalidProjector, match="CREATE"):
        validate([Bad()])


def _misspelt(event_type: str):
    """A projector whose one handler names `event_type`."""
    from projections.projector import Projector, on

    class Misspelt(Projector):
        name = "misspelt"
        version = 1
        tables = {"misspelt_notes": "id int"}

        @on(event_type)
        async def handle(self, event, ctx):
            return None

    return Misspelt()


def test_a_projector_handling_an_unregistered_event_type_is_refused():
    """A misspelt @on name never matches an event: the read model would silently miss
    what it was written for. Start-up refuses it, naming the projector and the name."""
    import pytest

    from chatalot.bootstrap import build_registry, default_projectors
    from projections.errors import InvalidProjector
    from projections.projector import validate

    validate(default_projectors(), build_registry())  # every real handler names a type
    with pytest.raises(InvalidProjector, match="misspelt: handles 'UserRegistred'"):
        validate([_misspelt("UserRegistred")], build_registry())


def test_serve_stops_with_one_line_on_an_unregistered_event_type(monkeypatch, capsys):
    import pytest

    import chatalot.cli.projections
    from chatalot.cli.main import main

    monkeypatch.setattr(chatalot.cli.projections, "default_projectors",
                        lambda: [_misspelt("NoSuchEvent")])
    with pytest.raises(SystemExit) as exit_:
        main(["serve"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["chatalot: misspelt: handles 'NoSuchEvent', which no event type is"
                   " registered as"]
