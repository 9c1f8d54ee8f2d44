"""The event store under fire: many writers, killed backends, lost replies, readers on every
bus; then the log is held to what each writer was told (issue 19).

Writers (asyncio tasks here and in a second OS process) send single and batched appends
with ANY, NO_STREAM and exact versions onto a few hot streams and fresh ones; transactions
hold 1-5 appends open for 50-500 ms, some roll back on purpose, some carry on after a
refused append; the same batch goes out 2-4 times at once; acked batches are re-appended;
unknown outcomes are retried with the same ids. Meanwhile random backends of this test's
database are terminated every 0.5-3 s, a TCP proxy in front of PostgreSQL loses the reply to
some INSERTs and COMMITs that the server got, and readers follow the log in process, through
NOTIFY and through Redis (its pub/sub connections killed every few seconds).

About 30 s of fire by default; HYPOTHESIS_PROFILE=nightly fires for 4 minutes with more
writers; CHATALOT_UNDER_FIRE_SECONDS and CHATALOT_UNDER_FIRE_SEED override.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import psycopg
import pytest

from event_store import (
    START,
    EventStore,
    NewEvent,
    PostgresNotifyBus,
    RecordedEvent,
    RedisBus,
)
from tests.event_store.conftest import Noted, make_registry
from tests.event_store.fire_checks import KNOWN, Row, check, rows_of
from tests.event_store.fire_load import (
    Ledger,
    Send,
    Writer,
    run_in_process,
    spawn_context,
    writer_pool,
)
from tests.event_store.pg_proxy import DroppingProxy, proxy_pool_kwargs

NIGHTLY = os.environ.get("HYPOTHESIS_PROFILE") == "nightly"
SECONDS = float(os.environ.get("CHATALOT_UNDER_FIRE_SECONDS") or (240 if NIGHTLY else 30))
DIRECT_WRITERS = 10 if NIGHTLY else 5
PROXY_WRITERS = 4 if NIGHTLY else 3
PROCESS_WRITERS = 8 if NIGHTLY else 5
DROP_CHANCE = 0.06  # per INSERT INTO events / COMMIT through the proxy

_REDIS_SET = bool(os.environ.get("CHATALOT_TEST_REDIS_URL"))
# One run, with Redis when there is one (and then marked, like every Redis test).
BUSES = [pytest.param("redis", marks=pytest.mark.redis, id="with-redis") if _REDIS_SET
         else pytest.param("no-redis", id="without-redis")]


async def _kill_backends(database_url: str, stop: asyncio.Event, rng: random.Random,
                         counts: Counter[str]) -> None:
    """Terminates 1-2 random backends of this test's database (never another's) every
    0.5-3 s."""
    conn: psycopg.AsyncConnection[Any] | None = None
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.uniform(0.5, 3.0))
            if stop.is_set():
                return
            try:
                if conn is None or conn.closed:
                    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
                cur = await conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
                pids = [r[0] for r in await cur.fetchall()]
                for pid in rng.sample(pids, min(len(pids), rng.randint(1, 2))):
                    cur = await conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    counts["backends killed"] += bool((await cur.fetchone() or [False])[0])
            except psycopg.Error:
                conn = None
    finally:
        if conn is not None:
            await conn.close()


async def _kick_redis(url: str, client_name: str, stop: asyncio.Event, rng: random.Random,
                      counts: Counter[str]) -> None:
    """Kills this test's Redis pub/sub connections (only those: the name says whose) every
    2-4 s, so the Redis readers reconnect."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.uniform(2.0, 4.0))
            if stop.is_set():
                return
            for entry in await client.client_list(_type="pubsub"):
                if entry.get("name") == client_name:
                    counts["redis pub/sub killed"] += await client.client_kill_filter(
                        _id=entry["id"])
    finally:
        await client.aclose()


async def _follow(store: EventStore, name: str, out: list[RecordedEvent]) -> None:
    async for batch in store.subscribe(START, batch_size=200, poll_interval=0.5,
                                       name=name).batches():
        out.extend(batch)


async def _read_everything(store: EventStore) -> list[RecordedEvent]:
    log: list[RecordedEvent] = []
    while True:
        batch = await store.read_all(log[-1].position if log else START, limit=1000)
        if not batch:
            return log
        log += batch


async def _table(database_url: str) -> list[Row]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT epoch, transaction_id, position, stream_id, version, event_id::text"
            " FROM events ORDER BY epoch, transaction_id, position"
        )
        return [Row((r[0], r[1], r[2]), r[3], r[4], r[5]) for r in await cur.fetchall()]


@pytest.mark.timeout(SECONDS + 180)
@pytest.mark.parametrize("buses", BUSES)
async def test_under_fire_log_is_what_writers_were_told(database_url: str, buses: str,
                                                       request: pytest.FixtureRequest) -> None:
    redis_url: str | None = request.getfixturevalue("redis_url") if buses == "redis" else None
    seed = int(os.environ.get("CHATALOT_UNDER_FIRE_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    ledger = Ledger()
    stop = asyncio.Event()

    proxy = DroppingProxy(database_url, drop_chance=DROP_CHANCE, seed=seed)
    await proxy.start()
    direct_pool = writer_pool(database_url, max_size=3 * DIRECT_WRITERS + 6)
    proxy_pool = writer_pool(proxy.conninfo, max_size=3 * PROXY_WRITERS + 2,
                             **proxy_pool_kwargs())
    await direct_pool.open(wait=True)
    await proxy_pool.open(wait=True)
    redis_name = f"under-fire-{uuid.uuid4().hex[:10]}"
    channel = f"{redis_name}-wakeups"
    named_redis = (f"{redis_url}{'&' if '?' in redis_url else '?'}client_name={redis_name}"
                   if redis_url else "")

    def store(pool: Any, bus: Any = None) -> EventStore:
        return EventStore(pool, make_registry(), bus)

    local = store(direct_pool)  # writers and a reader on one in-process signal
    writer_stores = [local, store(direct_pool, PostgresNotifyBus(database_url))]
    reader_stores = {"in-process": local,
                     "notify": store(direct_pool, PostgresNotifyBus(database_url))}
    if named_redis:
        writer_stores.append(store(direct_pool, RedisBus(named_redis, channel)))
        reader_stores["redis"] = store(direct_pool, RedisBus(named_redis, channel))
    behind_proxy = store(proxy_pool, PostgresNotifyBus(database_url))
    everything = {id(s): s for s in [*writer_stores, *reader_stores.values(), behind_proxy]}
    for s in everything.values():
        await s.start()

    received: dict[str, list[RecordedEvent]] = {name: [] for name in reader_stores}
    readers = [asyncio.create_task(_follow(s, f"fire-{name}", received[name]))
               for name, s in reader_stores.items()]
    chaos = [asyncio.create_task(_kill_backends(database_url, stop, random.Random(rng.random()),
                                                counts))]
    if named_redis:
        chaos.append(asyncio.create_task(_kick_redis(named_redis, redis_name, stop,
                                                     random.Random(rng.random()), counts)))
    writers = [
        Writer(i, writer_stores[i % len(writer_stores)], local, ledger,
               random.Random(rng.random()), carry_on=i % 2 == 0)
        for i in range(DIRECT_WRITERS)
    ] + [
        Writer(50 + i, behind_proxy, local, ledger, random.Random(rng.random()),
               carry_on=i % 2 == 1)
        for i in range(PROXY_WRITERS)
    ]
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn_context()) as executor:
        other_process = loop.run_in_executor(executor, run_in_process, database_url, SECONDS,
                                             100, PROCESS_WRITERS, rng.randrange(2**32))
        stop_at = loop.time() + SECONDS
        await asyncio.wait_for(asyncio.gather(*(w.run(stop_at) for w in writers)), SECONDS + 60)
        process_sends, process_counts = await asyncio.wait_for(other_process, SECONDS + 60)
    stop.set()
    await asyncio.gather(*chaos)
    await proxy.close()
    sends: list[Send] = ledger.sends + process_sends
    counts.update(ledger.counts)
    counts.update(process_counts)

    table = await _table(database_url)
    log = rows_of(await _read_everything(local))
    for _ in range(1200):  # readers reach the end of the log within 60 s (or the check says)
        if all(len(events) >= len(log) for events in received.values()):
            break
        await asyncio.sleep(0.05)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for s in everything.values():
        await s.close()
    await direct_pool.close()
    await proxy_pool.close()

    findings = check(sends, table, log,
                     {name: rows_of(events) for name, events in received.items()})
    outcomes = Counter(s.outcome for s in sends)
    figures = (
        f"seed {seed}, {SECONDS:.0f} s, {len(writers) + PROCESS_WRITERS} writers in 2 processes,"
        f" readers {sorted(received)}: {len(sends)} sends ({dict(outcomes)}), {len(table)}"
        f" events in {len({r.stream for r in table})} streams; chaos: {dict(counts)};"
        f" proxy dropped {proxy.dropped_inserts} INSERT and {proxy.dropped_commits} COMMIT"
        " replies"
    )
    print(figures)
    print(findings.report())
    # the fire really happened (else the invariants below prove little)
    assert counts["backends killed"] >= 3, figures
    assert proxy.dropped_inserts + proxy.dropped_commits >= 1, figures
    assert min(outcomes["acked"], outcomes["refused"], outcomes["rolled_back"]) >= 10, figures
    if named_redis:
        assert counts["redis pub/sub killed"] >= 1, figures
    unexpected = findings.unexpected()
    known = sorted(set(findings.counts) & set(KNOWN))
    assert not findings.counts, (
        f"{figures}\n"
        + (f"UNEXPECTED: {unexpected}\n" if unexpected else
           f"only the known store bugs of issue 19 ({known}):\n")
        + findings.report()
    )


def test_the_checks_see_each_kind_of_violation() -> None:
    """The ledger checks can fail: one small made-up log with one of each violation."""

    def send(ids: tuple[str, ...], stream: str, outcome: str, positions=(), version=0,
             error: str = "") -> Send:
        return Send(ids, stream, "any", outcome, "auto", tuple(positions), version, error)

    sends = [
        send(("a1",), "s", "acked", [(1, 11, 2)], 1),
        send(("a2",), "s", "acked", [(1, 10, 1)], 2),
        send(("b1",), "t", "acked", [(1, 12, 3)], 1),
        send(("c1",), "u", "acked", [(1, 13, 4)], 1),
        send(("d1", "d2"), "s", "refused", error="IdempotencyConflict"),
        send(("e1",), "w", "rolled_back"),
    ]
    table = [
        Row((1, 10, 1), "s", 2, "a2"),
        Row((1, 11, 2), "s", 1, "a1"),
        Row((1, 13, 5), "u", 1, "c1"),
        Row((1, 14, 6), "s", 3, "d2"),
        Row((1, 15, 7), "w", 2, "e1"),
        Row((1, 16, 8), "z", 1, "zz"),
    ]
    found = check(sends, table, table, {"late": table[:-1]})
    assert set(found.counts) == {
        "order", "lost", "misplaced", "partial", "idempotency", "present though refused",
        "version gap", "phantom", "reader late differs",
    }, found.report()
    assert found.counts["order"] == 1
    assert "s: v2 (at 1.10.1) before v1 (at 1.11.2)" in found.report()


async def test_the_proxy_loses_the_reply_to_an_append_the_server_made(
        database_url: str, store: EventStore) -> None:
    """What "unknown" means here: the append committed, its caller heard nothing of it."""
    proxy = DroppingProxy(database_url, drop_chance=1.0, seed=1)
    await proxy.start()
    pool = writer_pool(proxy.conninfo, max_size=2, **proxy_pool_kwargs())
    await pool.open(wait=True)
    try:
        behind = EventStore(pool, make_registry())
        event = NewEvent(Noted(1, 1))
        with pytest.raises(psycopg.OperationalError):
            await behind.append("lost-reply", [event])
        assert proxy.dropped_inserts == 1
        (logged,) = await store.read_stream("lost-reply")
        assert logged.event_id == event.event_id
        again = await store.append("lost-reply", [event])  # the retry: same answer, once
        assert again.position == logged.position
    finally:
        await pool.close()
        await proxy.close()
