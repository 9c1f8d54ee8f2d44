"""Rebuilds beside live traffic (issue 21): new builds handed off to a dedicated process,
short batch transactions, live projectors that keep up while a rebuild writes, progress."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, ClassVar

from psycopg import sql

from event_store import NewEvent
from projections import ProjectionContext, ProjectionHost, Projector, catalog
from projections.pacing import Pacer
from tests.projections.conftest import (
    FAST,
    Added,
    Ledger,
    active_build,
    running,
    settled,
    statuses,
    wait_until,
)


class Slow(Projector):
    """Costs the database 0.5 ms per event, all inside its batch transaction: a batch of
    5,000 would hold the log's read horizon for 2.5 s."""

    name = "slow"
    version = 1
    event_types = frozenset({"Added"})
    tables: ClassVar = {"slow": "stream_id text PRIMARY KEY, n bigint NOT NULL"}

    async def apply(self, events: Any, ctx: ProjectionContext) -> None:
        await ctx.conn.execute("SELECT pg_sleep(%s)", (len(events) * 0.0005,))
        counts: dict[str, int] = {}
        for event in events:
            counts[event.stream_id] = counts.get(event.stream_id, 0) + 1
        await ctx.conn.execute(
            sql.SQL("INSERT INTO {} AS t SELECT * FROM unnest(%s::text[], %s::bigint[])"
                    " ON CONFLICT (stream_id) DO UPDATE SET n = t.n + excluded.n"
                    ).format(ctx.table("slow")),
            (list(counts), list(counts.values())))


async def seed(store: Any, appends: int, per_append: int = 10) -> None:
    for i in range(appends):
        await store.append(f"seed-{i % 50}", [NewEvent(Added(1)) for _ in range(per_append)])


async def request(store: Any, name: str) -> None:
    async with store.pool.connection() as conn, conn.transaction():
        assert await catalog.request_rebuild(conn, name)


def test_batches_shrink_to_keep_transactions_short_and_grow_back():
    pacer = Pacer(batch_seconds=0.1, max_batch=5000)
    assert pacer.batch == 100  # the first batch is small: nothing is measured yet
    pacer.measured(100, 0.2)  # 2 ms per event: 50 fit in 0.1 s
    assert pacer.batch == 50
    for _ in range(20):
        pacer.measured(pacer.batch, pacer.batch * 0.00001)  # now 10 us per event
    assert pacer.batch == 5000
    assert pacer.longest == 0.2
    assert not pacer.paced and Pacer(share=0.5).paced and Pacer(rate=100).paced


async def test_a_serving_leader_hands_a_rebuild_to_a_dedicated_process(store):
    """The leader (hand_off: as `chatalot serve`) keeps its builds live and leaves the new
    build to a process with take_rebuilds (as `chatalot projections rebuild`), which loads
    and flips it and stops there; the leader runs it live from then on."""
    await seed(store, 60)
    serving = dataclasses.replace(FAST, hand_off=60.0, node="serving")
    dedicated = dataclasses.replace(FAST, take_rebuilds=True, rebuild_share=0.5,
                                    node="dedicated")
    async with running(store, [Ledger()], serving) as leader:
        await settled(store, ["ledger"])
        before = await active_build(store, "ledger")
        await request(store, "ledger")
        leader.poke("ledger")
        await asyncio.sleep(0.5)  # the leader leaves it alone
        found = (await statuses(store))["ledger"]
        assert found.state == "rebuilding" and found.events_done == 0, found
        async with running(store, [Ledger()], dedicated) as helper:
            async def flipped() -> bool:
                return await active_build(store, "ledger") != before

            await wait_until(flipped, 20, "the dedicated process to flip the new build")
            assert helper.leading == set() and leader.leading == {"ledger"}
        # the dedicated process is gone: the leader runs the new build live
        await store.append("after-flip", [NewEvent(Added(5))])
        await settled(store, ["ledger"])
        assert await active_build(store, "ledger") != before


async def test_a_dedicated_process_that_stops_mid_build_leaves_it_to_the_leader(store):
    """The leader resumes the build from its checkpoint, not from position 0."""
    await seed(store, 100)
    serving = dataclasses.replace(FAST, hand_off=1.0, node="serving")
    dedicated = dataclasses.replace(FAST, take_rebuilds=True, bulk_batch=50,
                                    rebuild_rate=500.0, node="dedicated")
    async with running(store, [Ledger()], serving) as leader:
        await settled(store, ["ledger"])
        before = await active_build(store, "ledger")
        async with running(store, [Ledger()], dedicated):
            await request(store, "ledger")
            leader.poke("ledger")

            async def halfway() -> bool:
                return (await statuses(store))["ledger"].events_done >= 300

            await wait_until(halfway, 20, "the dedicated process to load some")
        assert (await statuses(store))["ledger"].events_done < 1000
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT build FROM projection_builds WHERE name = 'ledger' AND state = 'bulk'")
            (half_built,) = await cur.fetchall()

        async def flipped() -> bool:
            return await active_build(store, "ledger") != before

        await wait_until(flipped, 20, "the leader to finish the build")
        assert await active_build(store, "ledger") == half_built[0]  # resumed, not anew
        await settled(store, ["ledger"])


async def test_without_a_dedicated_process_the_leader_builds_after_the_hand_off(store):
    await seed(store, 20)
    serving = dataclasses.replace(FAST, hand_off=0.3, rebuild_share=0.5)
    async with running(store, [Ledger()], serving) as leader:
        await settled(store, ["ledger"])
        before = await active_build(store, "ledger")
        await request(store, "ledger")
        leader.poke("ledger")

        async def flipped() -> bool:
            return await active_build(store, "ledger") != before

        await wait_until(flipped, 20, "the leader to build it after the hand-off")
        await settled(store, ["ledger"])


async def test_live_reads_stay_fast_while_a_rebuild_writes(store):
    """Read-your-writes through a live projector while another projector's rebuild loads
    8,000 events in the same process: every wait stays under 700 ms. Fails when rebuild
    batches are not kept short (one 5,000-event transaction holds every log reader for
    2.5 s), and while the event store's subscription can miss the end of a held-back
    horizon (it then sleeps until its 1 s poll: poll_interval is the production one here).
    The bound sits between those failures and what a loaded machine shows (one wait of
    442 ms beside other suites, with 300 ms as the bound: a false alarm)."""
    await seed(store, 800)
    options = dataclasses.replace(FAST, bulk_batch=5000, live_batch=500, poll_interval=1.0)
    host = ProjectionHost(store, [Ledger(), Slow()], run=True, options=options)
    await host.start()
    try:
        await settled(store, ["ledger", "slow"], timeout=60)
        before = await active_build(store, "slow")
        await request(store, "slow")
        assert host.runner is not None
        host.runner.poke("slow")

        async def loading() -> bool:
            return (await statuses(store))["slow"].events_done > 0

        await wait_until(loading, 20, "the rebuild to start")
        waits: list[float] = []
        deadline = time.monotonic() + 20
        while await active_build(store, "slow") == before and time.monotonic() < deadline:
            result = await store.append("ryw", [NewEvent(Added(1))])
            started = time.monotonic()
            assert await host.wait_for(["ledger"], result.position, 5.0)
            waits.append(time.monotonic() - started)
            await asyncio.sleep(0.02)
        assert await active_build(store, "slow") != before, "the rebuild did not finish"
        slow = sorted(w for w in waits if w > 0.7)
        assert not slow, f"{len(slow)} of {len(waits)} reads waited > 700 ms: {slow}"
        assert len(waits) >= 10, f"only {len(waits)} reads overlapped the rebuild"
    finally:
        await host.close()


async def test_status_shows_done_total_rate_and_eta_of_a_rebuild(store):
    await seed(store, 300)
    capped = dataclasses.replace(FAST, bulk_batch=100, rebuild_rate=600.0)
    async with running(store, [Ledger()], capped) as runner:
        await settled(store, ["ledger"], timeout=30)
        await request(store, "ledger")
        runner.poke("ledger")

        async def measured() -> bool:
            found = (await statuses(store))["ledger"]
            return found.rebuild is not None and found.rebuild.eta_seconds is not None

        await wait_until(measured, 20, "a rebuild with a rate")
        found = (await statuses(store))["ledger"]
        progress = found.rebuild
        assert progress is not None and found.state == "rebuilding"
        assert progress.events_total == 3000 and 0 < progress.events_done < 3000
        assert progress.rate is not None and progress.rate > 0
        assert progress.eta_seconds is not None and progress.eta_seconds > 0
        text = found.describe()
        assert text.startswith("rebuilding ") and "of 3,000 events" in text
        assert "events/s" in text and "ETA" in text
        await settled(store, ["ledger"], timeout=30)
        assert (await statuses(store))["ledger"].rebuild is None
