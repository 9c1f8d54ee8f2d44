"""Reads that pipeline an access check with their page answer in one round trip: their
results are read after the pipeline's Sync, since a fetch inside the pipeline waits for a
round trip of its own (a Flush) before that Sync's. Counted on the wire by the proxy of
tests/event_store/pg_proxy.py (no statement is dropped)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from chatalot.messaging import queries as messaging_queries
from chatalot.spaces import queries as spaces_queries
from tests.event_store.pg_proxy import DroppingProxy, proxy_pool_kwargs, round_trips
from tests.messaging.conftest import Msg


@pytest.fixture
async def counted(fast_database_url: str) -> AsyncIterator[tuple[DroppingProxy, Any]]:
    proxy = DroppingProxy(fast_database_url, drop_chance=0.0, seed=0)
    await proxy.start()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        proxy.conninfo, min_size=1, max_size=1, kwargs=proxy_pool_kwargs(), open=False)
    await pool.open(wait=True)
    try:
        yield proxy, pool
    finally:
        await pool.close()
        await proxy.close()


async def _round_trips(proxy: DroppingProxy, read: Callable[[], Awaitable[Any]]) -> int:
    await read()  # the connection's first use out of the way
    before = len(proxy.asks)
    await read()
    return round_trips(proxy.asks[before:])


async def test_a_history_page_and_a_member_page_are_one_round_trip(
        msg: Msg, counted: tuple[DroppingProxy, Any]) -> None:
    proxy, pool = counted
    space = await msg.space(members=1)
    [alice] = space.members
    sent = await msg.send(alice, space.channel_id, "hello")
    assert len((await msg.history(alice, space.channel_id, sent["position"]))["items"]) == 1
    user, channel = uuid.UUID(alice.id), uuid.UUID(space.channel_id)

    async def history() -> None:
        page = await messaging_queries.page(pool, user, channel, limit=50)
        assert len(page.items) == 1

    async def members() -> None:
        page = await spaces_queries.community_members(
            pool, user, uuid.UUID(space.community_id), None, 50)
        assert page.items  # the owner at least (the join may not be projected yet)

    assert await _round_trips(proxy, history) == 1
    assert await _round_trips(proxy, members) == 1
