"""A projector's `settle` (projections/projector.py): live, it writes the traffic of a
moment as one batch, a backlog is read on at once, and read-your-writes waits on it still
answer, a moment later."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, ClassVar

from psycopg import sql

from event_store import NewEvent
from projections import ProjectionContext, ProjectionHost, Projector
from tests.projections.conftest import FAST, Added, settled


class Settling(Projector):
    """Counts the Added events of each batch it writes."""

    name = "settling"
    version = 1
    event_types = frozenset({"Added"})
    settle = 0.5
    tables: ClassVar = {"settling": "batch integer NOT NULL"}
    batches: ClassVar[list[int]] = []

    async def apply(self, events: Any, ctx: ProjectionContext) -> None:
        type(self).batches.append(len(events))
        await ctx.conn.execute(sql.SQL("INSERT INTO {} VALUES (%s)").format(
            ctx.table(self.name)), (len(events),))  # its one table bears its name


class Patient(Settling):
    """Settles far longer than any test waits: only its full batches keep it moving."""

    name = "patient"
    settle = 30.0
    tables: ClassVar = {"patient": "batch integer NOT NULL"}
    batches: ClassVar[list[int]] = []


async def test_steady_traffic_is_written_in_a_few_batches_and_waits_still_answer(store):
    host = ProjectionHost(store, [Settling()], run=True,
                          options=dataclasses.replace(FAST, live_batch=500))
    await host.start()
    try:
        await settled(store, ["settling"])
        Settling.batches.clear()
        for _ in range(30):  # about 0.2-0.3 s of traffic, one commit each
            last = await store.append("settle", [NewEvent(Added(1))])
            await asyncio.sleep(0.005)
        started = time.monotonic()
        assert await host.wait_for(["settling"], last.position, 5.0)
        assert time.monotonic() - started < 3.0  # a settle (0.5 s) late, not stuck
        assert sum(Settling.batches) == 30
        assert len(Settling.batches) <= 6, Settling.batches  # about 30 without settling
    finally:
        await host.close()


async def test_a_backlog_is_read_on_without_settling(store):
    """Full batches are not followed by the wait: 50 events in batches of 7 are all
    written long before one settle (30 s) could pass."""
    host = ProjectionHost(store, [Patient()], run=True, options=FAST)  # live_batch 7
    await host.start()
    try:
        await settled(store, ["patient"])
        Patient.batches.clear()
        last = await store.append("backlog", [NewEvent(Added(1)) for _ in range(50)])
        assert await host.wait_for(["patient"], last.position, 10.0)
        assert sum(Patient.batches) == 50 and max(Patient.batches) == 7
    finally:
        await host.close()
