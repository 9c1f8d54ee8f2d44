"""A failing event stops only its projector, visibly, and retries with back-off; one node
leads each projector and another takes over when it dies."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from psycopg import sql

from event_store import NewEvent
from projections import ProjectionContext, ProjectionRunner, Projector, on
from tests.projections.conftest import (
    FAST,
    Added,
    Ledger,
    Tally,
    Texted,
    expected_ledger,
    ledger_state,
    running,
    settled,
    snapshot,
    statuses,
    wait_until,
)


@pytest.fixture
def broken_tally():
    Tally.broken = True
    yield Tally
    Tally.broken = False


async def test_failing_event_stops_only_its_projector(store, broken_tally):
    for i in range(30):
        await store.append(f"f-{i % 3}", [NewEvent(Added(i)), NewEvent(Texted(str(i)))])
    async with running(store, [Ledger(), Tally()]):
        await settled(store, ["ledger"])
        events = await store.read_all(limit=1000)
        bad = next(e for e in events if e.type == "Added" and e.data.amount == 13)
        before = events[events.index(bad) - 1]

        async def failed() -> bool:
            found = (await statuses(store)).get("tally")
            return found is not None and found.state == "failed"

        await wait_until(failed, what="tally to fail")
        status = (await statuses(store))["tally"]
        assert status.error == f"at position {bad.position.encode()}: ValueError: unlucky number"
        assert status.describe().startswith(f"failed at position {bad.position.encode()}")
        # everything before the bad event was applied, nothing after it
        assert status.position == before.position.encode()
        counts = dict(await snapshot(store, "tally"))
        assert counts == {"Added": 13, "Texted": 13}
        # the other projector goes on
        await store.append("f-more", [NewEvent(Added(1))])
        await settled(store, ["ledger"])
        assert await ledger_state(store) == await expected_ledger(store)
        # it retries, backing off, until the handler is fixed: each retry waits its delay
        # (0.05 s doubling up to 0.3 s, +-10%), measured on the database's clock
        async def failures_now() -> tuple[int, Any]:
            async with store.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT failures, failed_at FROM projection_builds WHERE name = 'tally'")
                return await cur.fetchone()

        first = await failures_now()

        async def retried_three_more() -> bool:
            return (await failures_now())[0] >= first[0] + 3

        await wait_until(retried_three_more, what="three more retries")
        failures, failed_at = await failures_now()
        assert (failed_at - first[1]).total_seconds() >= 0.045 * (failures - first[0])
        broken_tally.broken = False
        await settled(store, ["tally", "ledger"])
        assert (await statuses(store))["tally"].error is None
        assert dict(await snapshot(store, "tally")) == {"Added": 31, "Texted": 30}


class Checked(Projector):
    """Fails in SQL (a CHECK constraint), inside the batch's pipelined transaction."""

    name = "checked"
    version = 1
    tables = {"checked": "event_id uuid PRIMARY KEY, amount int NOT NULL CHECK (amount <> 7)"}

    @on(Added)
    async def added(self, event, ctx: ProjectionContext) -> None:
        await ctx.conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(
            ctx.table("checked")), (event.event_id, event.data.amount))


async def test_sql_error_is_pinned_to_its_event(store):
    for i in range(12):
        await store.append("chk-1", [NewEvent(Added(i))])
    bad = next(e for e in await store.read_all() if e.data.amount == 7)
    async with running(store, [Checked()]):
        async def failed() -> bool:
            found = (await statuses(store)).get("checked")
            return found is not None and found.state == "failed"

        await wait_until(failed, what="checked to fail")
        status = (await statuses(store))["checked"]
        assert status.error.startswith(f"at position {bad.position.encode()}: CheckViolation")
        assert len(await snapshot(store, "checked")) == 7


async def _leader(runners) -> ProjectionRunner | None:
    leaders = [r for r in runners if "ledger" in r.leading]
    assert len(leaders) <= 1
    return leaders[0] if leaders else None


@pytest.mark.parametrize("death", ["terminate", "close"])
async def test_one_leader_and_failover(store, death):
    for i in range(40):
        await store.append(f"l-{i % 4}", [NewEvent(Added(i))])
    a = ProjectionRunner(store, [Ledger()], options=FAST)
    b = ProjectionRunner(store, [Ledger()], options=FAST)
    await a.start()
    await b.start()
    try:
        await wait_until(lambda: _has_leader([a, b]), what="a leader")
        await settled(store, ["ledger"])
        await asyncio.sleep(0.2)
        leader = await _leader([a, b])
        other = b if leader is a else a
        assert leader is not None and "ledger" not in other.leading
        assert (await statuses(store))["ledger"].running
        if death == "terminate":  # the node's session dies (crash, network): locks go with it
            async with store.pool.connection() as conn:
                await conn.execute("SELECT pg_terminate_backend(%s)", (leader.lock_backend_pid,))
        else:
            await leader.close()
        started = time.monotonic()
        await wait_until(lambda: _leads(other), what="failover")
        assert time.monotonic() - started < 2.0
        for i in range(40):
            await store.append(f"l-{i % 4}", [NewEvent(Added(i))])
        await settled(store, ["ledger"])
        assert await ledger_state(store) == await expected_ledger(store)
    finally:
        await a.close()
        await b.close()


async def _has_leader(runners) -> bool:
    return await _leader(runners) is not None


async def _leads(runner) -> bool:
    return "ledger" in runner.leading
