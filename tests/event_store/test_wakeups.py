"""Wake-ups across processes: a second node hears of an append within its poll interval."""

from __future__ import annotations

import asyncio

import pytest

from event_store import EventStore, NewEvent, PostgresNotifyBus, RedisBus
from tests.event_store.conftest import Noted, make_registry


async def _two_nodes_deliver(pool, bus_a, bus_b) -> None:
    node_a = EventStore(pool, make_registry(), bus_a)
    node_b = EventStore(pool, make_registry(), bus_b)
    await node_a.start()
    await node_b.start()
    try:
        await asyncio.sleep(0.2)  # listeners connected
        head = await node_b.head()
        # a 60 s poll: only a wake-up from node A can deliver within the timeout below
        subscription = node_b.subscribe(head, poll_interval=60.0, name="node-b")
        received: list = []

        async def follow():
            async for event in subscription:
                received.append(event)
                if len(received) == 3:
                    return

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.2)
        for n in range(3):
            await node_a.append("wake-1", [NewEvent(Noted(1, n))])
            await asyncio.sleep(0.05)
        await asyncio.wait_for(follower, 5)
        assert [e.data.n for e in received] == [0, 1, 2]
    finally:
        await node_a.close()
        await node_b.close()


async def test_postgres_notify_bus_wakes_another_node(pool, database_url):
    await _two_nodes_deliver(pool, PostgresNotifyBus(database_url),
                             PostgresNotifyBus(database_url))


@pytest.mark.redis
async def test_redis_bus_wakes_another_node(pool, redis_url):
    channel = f"test-{id(pool)}"
    await _two_nodes_deliver(pool, RedisBus(redis_url, channel), RedisBus(redis_url, channel))


async def test_without_a_bus_another_node_still_catches_up_by_polling(pool):
    node_a = EventStore(pool, make_registry())
    node_b = EventStore(pool, make_registry())
    await node_a.start()
    await node_b.start()
    head = await node_b.head()
    subscription = node_b.subscribe(head, poll_interval=0.2, name="poller")
    await node_a.append("poll-1", [NewEvent(Noted(1, 1))])

    async def first():
        async for event in subscription:
            return event

    event = await asyncio.wait_for(first(), 5)
    assert event.stream_id == "poll-1"


async def _own_wakeups_are_not_heard(bus_a, bus_b) -> None:
    """A process's commits fire its local signal; its own wake-up coming back over the bus
    would only make every reader in it read again. Another process's is heard."""
    heard_a: list[int] = []
    heard_b: list[int] = []
    await bus_a.start(lambda: heard_a.append(1))
    await bus_b.start(lambda: heard_b.append(1))
    try:
        for _ in range(200):  # each listener wakes its process once it is listening
            if heard_a and heard_b:
                break
            await asyncio.sleep(0.025)
        await asyncio.sleep(0.1)
        a, b = len(heard_a), len(heard_b)
        bus_a.publish()
        for _ in range(200):
            if len(heard_b) > b:
                break
            await asyncio.sleep(0.025)
        assert len(heard_b) > b
        await asyncio.sleep(0.2)
        assert len(heard_a) == a
    finally:
        await bus_a.close()
        await bus_b.close()


async def test_postgres_notify_bus_does_not_wake_its_own_process(database_url):
    await _own_wakeups_are_not_heard(PostgresNotifyBus(database_url),
                                     PostgresNotifyBus(database_url))


@pytest.mark.redis
async def test_redis_bus_does_not_wake_its_own_process(redis_url):
    channel = f"test-own-{id(redis_url)}"
    await _own_wakeups_are_not_heard(RedisBus(redis_url, channel), RedisBus(redis_url, channel))
