"""Stopping a runner (app shutdown, node stop) is prompt wherever its tasks are."""

from __future__ import annotations

import asyncio
import random
import time

from event_store import NewEvent
from projections import ProjectionHost
from projections.read_models.event_stats import EventStats
from tests.projections.conftest import FAST, Added, Journal, Ledger, Tally, Texted


async def test_close_is_prompt_at_any_moment(store):
    for i in range(200):
        await store.append(f"sd-{i % 7}", [NewEvent(Added(i)), NewEvent(Texted(str(i)))])
    rng = random.Random(7)
    slowest = 0.0
    for _ in range(15):
        host = ProjectionHost(store, [Ledger(), Tally(), EventStats(), Journal()], run=True,
                              options=FAST)
        await host.start()
        await asyncio.sleep(rng.random() * 0.15)
        started = time.monotonic()
        await asyncio.wait_for(host.close(), 10)
        slowest = max(slowest, time.monotonic() - started)
    assert slowest < 2.5, slowest
