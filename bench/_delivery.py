"""How soon appended events reach a subscriber, for bench/event_store.py: under a steady
rate of appends, and once an unrelated open transaction that holds readers back ends."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from _common import paced, progress

from event_store import EventStore, NewEvent

Sample = Callable[[int], msgspec.Struct]
"""The i-th event to append."""


async def subscription_latency(store: EventStore, sample: Sample, duration: float,
                               rate: int) -> list[float]:
    """Delivery time minus commit time (when append returned), per event."""
    committed: dict[uuid.UUID, float] = {}
    delivered: dict[uuid.UUID, float] = {}
    head = await store.head()
    expected = int(duration * rate)
    done = asyncio.Event()

    async def follow() -> None:
        async for batch in store.subscribe(head, name="bench").batches():
            now = time.perf_counter()
            for event in batch:
                delivered[event.event_id] = now
            if len(delivered) >= expected:
                done.set()
                return

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.2)

    async def one(i: int) -> None:
        event = NewEvent(sample(i))
        await store.append(f"message-{uuid.uuid4()}", [event], 0)
        committed[event.event_id] = time.perf_counter()

    await paced(rate, expected, one)
    try:
        await asyncio.wait_for(done.wait(), 10)
    except TimeoutError:
        progress(f"  only {len(delivered)} of {expected} events delivered within 10 s")
    follower.cancel()
    # an event can reach the subscriber a hair before its append call returns: count 0
    return [max(0.0, (delivered[i] - t) * 1000) for i, t in committed.items() if i in delivered]


async def held_back_delivery(store: EventStore, sample: Sample, pool: Any,
                             holds: int) -> list[float]:
    """An unrelated writing transaction (it appends no event, so it sends no wake-up) stays
    open while an event commits; time from its commit to the event's delivery."""
    head = await store.head()
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def follow() -> None:
        async for batch in store.subscribe(head, name="bench-held").batches():
            for _ in batch:
                arrived.put_nowait(time.perf_counter())

    follower = asyncio.create_task(follow())
    out = []
    try:
        for i in range(holds):
            async with pool.connection() as holder:
                async with holder.transaction():
                    await holder.execute("SELECT pg_current_xact_id()")
                    await store.append(f"message-{uuid.uuid4()}", [NewEvent(sample(i))], 0)
                    await asyncio.sleep(0.1 + 0.01 * (i % 7))  # the reader is held meanwhile
                ended = time.perf_counter()
            out.append((await asyncio.wait_for(arrived.get(), 10) - ended) * 1000)
    finally:
        follower.cancel()
    return [max(0.0, v) for v in out]
