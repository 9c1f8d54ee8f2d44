"""Readers held back by an open transaction: they see it end within milliseconds, say who
holds them when it lasts, and the wake-up listener comes back at once after a drop."""

from __future__ import annotations

import asyncio
import logging

import psycopg

import event_store.horizon
import event_store.records
from event_store import NewEvent, PostgresNotifyBus
from tests.event_store.conftest import Noted


async def _holder(database_url: str) -> psycopg.AsyncConnection:
    """A connection whose transaction has an id (a writer) and stays open."""
    conn = await psycopg.AsyncConnection.connect(database_url, application_name="holder-test")
    await conn.execute("SELECT pg_current_xact_id()")
    return conn


async def test_held_back_names_the_backend_that_holds_the_horizon(store, database_url):
    holder = await _holder(database_url)
    try:
        assert await store.held_back() is None  # nothing committed is hidden yet
        await store.append("held-1", [NewEvent(Noted(1, 1))])
        report = await store.held_back()
        assert report is not None
        assert report.holder_pid == holder.info.backend_pid
        assert report.holder_application == "holder-test"
        assert report.holder_database == holder.info.dbname
        assert report.holder_state == "idle in transaction"
        assert report.age_secs >= 0 and report.holder_transaction_secs is not None
        assert str(holder.info.backend_pid) in report.describe()
    finally:
        await holder.rollback()  # ends the transaction before the reply (close may not)
        await holder.close()
    assert await store.held_back() is None
    assert [e.stream_id for e in await store.read_all()] == ["held-1"]


async def test_a_held_subscription_says_once_who_holds_it(store, database_url, caplog,
                                                         monkeypatch):
    monkeypatch.setattr(event_store.records, "HELD_BACK_NEWS_AFTER", 0.2)
    monkeypatch.setattr(event_store.horizon, "HELD_BACK_NEWS_AFTER", 0.2)  # readers' news
    caplog.set_level(logging.INFO, logger="event_store.subscription")
    caplog.set_level(logging.INFO, logger="event_store.window")
    subscription = store.subscribe(await store.head(), name="held-sub")
    received: list = []

    async def follow() -> None:
        async for event in subscription:
            received.append(event)
            return

    follower = asyncio.create_task(follow())
    holder = await _holder(database_url)
    pid = holder.info.backend_pid
    try:
        await store.append("held-2", [NewEvent(Noted(1, 1))])
        for _ in range(200):  # until the subscription has been held past the threshold
            if any("held back" in r.message for r in caplog.records):
                break
            await asyncio.sleep(0.02)
        assert subscription.held_back_secs > 0.2
        await asyncio.sleep(0.1)  # still held: the warning is not repeated
    finally:
        await holder.rollback()
        await holder.close()
    await asyncio.wait_for(follower, 5)
    assert [e.stream_id for e in received] == ["held-2"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.message for r in warnings]
    assert str(pid) in warnings[0].message
    assert "holder-test" in warnings[0].message


async def test_notify_listener_reconnects_at_once_after_a_healthy_connection(database_url):
    """Drop the listening connection eight times, each after it was healthy for a while:
    it comes back within a fraction of a second every time (the pause used to double on
    every drop, never reset: over 2 s deaf after six drops)."""
    bus = PostgresNotifyBus(database_url)
    bus.healthy_after = 0.1
    woken = asyncio.Event()
    await bus.start(woken.set)
    loop = asyncio.get_running_loop()
    try:
        async with await psycopg.AsyncConnection.connect(database_url,
                                                         autocommit=True) as admin:
            async def listener_pid() -> int | None:
                cur = await admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = 'event_store-listen'")
                row = await cur.fetchone()
                return row[0] if row else None

            gaps = []
            for _ in range(8):
                pid = None
                for _ in range(300):
                    if (pid := await listener_pid()) is not None:
                        break
                    await asyncio.sleep(0.01)
                assert pid is not None, "the listener did not come back within 3 s"
                await asyncio.sleep(0.15)  # healthy for longer than healthy_after
                await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                dropped = loop.time()
                while await listener_pid() in (pid, None):
                    await asyncio.sleep(0.005)
                    assert loop.time() - dropped < 5
                gaps.append(loop.time() - dropped)
            assert max(gaps) < 0.5, gaps
    finally:
        await bus.close()
