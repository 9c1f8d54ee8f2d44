"""Event store throughput and latency, each beside raw psycopg on the same database.

    python bench/event_store.py [--quick]

Figures (issue 2): appends/s with 1 writer (one event per transaction), 8 writers, batches
of 100; read-all events/s decoded; subscription latency from append commit to delivery
under a steady 500 appends/s. Also measured, for the record: 8 writers whose append
transaction sends NOTIFY, which PostgreSQL serializes at commit.

Issue 19: appends inside a caller's transaction (how commands append: the stream-order
check and, for batches, the savepoint) beside raw INSERTs in a transaction; and how soon a
reader held back by an open transaction gets its events once that transaction ends.

Issue 11: the hash chain's cost. Every append figure is also measured, in the same rounds,
on the statements and schema of before the chain (bench/_baselines.py: commit
BASELINE_COMMIT, read with git, on a second scratch database migrated without 0011 and
later, except the events table's later indexes: EVENTS_INDEX_MIGRATIONS, checked against
the migrations that touch the table, so the difference is the chain's alone); target: at
most 10 % slower. Beside the batches of 100, the chain's floor: its two digests alone,
computed by PostgreSQL over the appended events (bench/_chain_floor.py), added to the
unchained statements' CPU. Where the native chain is installed (migration 0044) the
chained store uses it, and the batches of 100 are measured chained in SQL too, in the
same rounds, for the record (`hash_chain_in_sql_append_batch_100`; each result says which
chain it measured). And the cost of those indexes (migration 0025: actor,
correlation id, type), against a third database migrated without them, in the same rounds
(1 writer, 8, batches of 100). Delivery latencies: bench/_delivery.py.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from _baselines import (
    UnchainedStore,
    unchained_database,
    unchained_statements,
    unindexed_database,
    variant_database,
)
from _chain_floor import digests_us_per_event
from _common import (
    backend_cpu_reader,
    percentile,
    progress,
    ratio_result,
    run_database_bench,
    target_result,
)
from _delivery import held_back_delivery, subscription_latency

from chatalot.db import (
    MIGRATIONS_DIR,
    drop_database,
    make_pool,
)
from event_store import EventRegistry, EventStore, NewEvent
from event_store.migrations import migrate

# Targets set by issue 2 (foundation), on a 2-core machine.
# Issue 19: the order check may cost appends inside a transaction a few percent at most.
TARGET_APPEND_RATIO = 0.6  # 1 and 8 writers vs raw single-row INSERT
TARGET_READ_RATIO = 0.8  # read-all decoded vs raw keyset SELECT + JSON decode
TARGET_LATENCY_P99_MS = 20.0  # append commit -> subscriber, at 500 appends/s
TARGET_HELD_P50_MS = 5.0  # issue 19: a held-back reader sees the horizon move within ms
TARGET_CHAIN_RATIO = 0.9  # issue 11: the hash chain costs appends at most 10 %
TARGET_INDEX_RATIO = 0.9  # they may cost appends a few percent, not more


class MessageSent(msgspec.Struct, frozen=True):
    channel_id: str
    sender_id: str
    ciphertext: str
    nonce: str
    n: int


def sample(n: int) -> MessageSent:
    return MessageSent(
        "c7d1a0e2-5b7e-4f3e-9a55-2f5b1f1f8e01", "a1b2c3d4-0000-4000-8000-000000000001",
        "aGVsbG8gd29ybGQsIHRoaXMgaXMgYSBtZXNzYWdlIG9mIGEgdHlwaWNhbCBsZW5ndGg=", "", n,
    )


RAW_TABLE = """
CREATE TABLE IF NOT EXISTS raw_events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id text NOT NULL, type text NOT NULL, data jsonb NOT NULL)
"""
RAW_EVENT_COLUMNS = (
    "position, epoch, transaction_id, stream_id, version, event_id, type, schema_version,"
    " data::text, metadata::text, recorded_at, redacted"
)
RAW_INSERT = "INSERT INTO raw_events (stream_id, type, data) VALUES (%s, %s, %s::jsonb)"


async def timed_loop(duration: float, step) -> tuple[int, float]:
    """Run `step()` until `duration` passes; returns (events, seconds)."""
    count = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < duration:
        count += await step()
    return count, elapsed


async def writers(n: int, duration: float, make_step) -> float:
    results = await asyncio.gather(*(timed_loop(duration, make_step(w)) for w in range(n)))
    return sum(c for c, _ in results) / max(s for _, s in results)


async def alternate(rounds: int, *measures: Callable[[], Awaitable[float]]) -> list[float]:
    """Median of each measure over `rounds` rounds that take turns: on a shared, noisy
    machine only figures measured side by side compare. Each round starts one measure
    later than the one before: in a fixed order, the measure that came third gained up to
    5 us an event of backend CPU on batches of 100 (docs/log.md, 6 December evening)."""
    samples: list[list[float]] = [[] for _ in measures]
    for r in range(rounds):
        for k in range(len(measures)):
            i = (r + k) % len(measures)
            samples[i].append(await measures[i]())
    return [statistics.median(values) for values in samples]


async def run(quick: bool, url: str) -> list[dict[str, Any]]:
    duration = 0.6 if quick else 2.5  # per round
    rounds = 5 if quick else 9
    await migrate(url, MIGRATIONS_DIR)
    pool = make_pool(url, min_size=9, max_size=10)
    await pool.open(wait=True)
    store = EventStore(pool, EventRegistry([MessageSent]))
    await store.start()
    UnchainedStore._statements = unchained_statements()
    before_url = await unchained_database(url)
    before_pool = make_pool(before_url, min_size=9, max_size=10)
    await before_pool.open(wait=True)
    unchained = UnchainedStore(before_pool, EventRegistry([MessageSent]))
    await unchained.start()
    unindexed_url = await unindexed_database(url)
    unindexed_pool = make_pool(unindexed_url, min_size=9, max_size=10)
    await unindexed_pool.open(wait=True)
    unindexed = EventStore(unindexed_pool, EventRegistry([MessageSent]))
    await unindexed.start()
    # Where the native chain is installed (migration 0044) the chain is measured with it;
    # the batches of 100 chained in SQL as well, on a database of their own, for the record.
    chain = "native" if store.native_chain else "sql"
    progress(f"the chain: {'native (event_batch_hashes)' if store.native_chain else 'in SQL'}")
    sql_url = await variant_database(url, "_sql_chain", lambda n: True)
    sql_pool = make_pool(sql_url, min_size=2, max_size=2)
    await sql_pool.open(wait=True)
    sql_chained = EventStore(sql_pool, EventRegistry([MessageSent]))
    await sql_chained.start()
    sql_chained.native_chain = False
    encoder = msgspec.json.Encoder()
    payload = encoder.encode(sample(0)).decode()
    results: list[dict[str, Any]] = []
    async with pool.connection() as conn:
        await conn.execute(RAW_TABLE)

    def raw_step(w: int):
        async def step() -> int:
            async with pool.connection() as conn:
                await conn.execute(RAW_INSERT, (f"channel-{w}", "MessageSent", payload))
            return 1
        return step

    def store_step(w: int, on: EventStore = store):
        async def step() -> int:
            await on.append(f"message-{uuid.uuid4()}", [NewEvent(sample(w))], 0)
            return 1
        return step

    def unchained_step(w: int):
        return store_step(w, unchained)

    def chain_cost(label: str, ours: float, before: float) -> None:
        progress(f"  hash chain: {ours:,.0f}/s, before it {before:,.0f}/s"
                 f" ({(1 - ours / before) * 100:+.1f} % cost)")
        results.append(ratio_result(
            f"hash_chain_{label}", ours, "events/s",
            f"the same appends with the statements and schema before the chain ({label})",
            before, TARGET_CHAIN_RATIO) | {"chain": chain})

    def index_cost(label: str, ours: float, without: float) -> None:
        progress(f"  log-page indexes: {ours:,.0f}/s, without them {without:,.0f}/s"
                 f" ({(1 - ours / without) * 100:+.1f} % cost)")
        results.append(ratio_result(
            f"log_indexes_{label}", ours, "events/s",
            f"the same appends without migration 0025's indexes ({label})", without,
            TARGET_INDEX_RATIO))

    def notify_inside_step(w: int):
        async def step() -> int:
            async with pool.connection() as conn, conn.transaction():
                await store.append(f"message-{uuid.uuid4()}", [NewEvent(sample(w))], 0,
                                   conn=conn)
                await conn.execute("NOTIFY bench_events")
            return 1
        return step

    for label, n in (("1_writer", 1), ("8_writers", 8)):
        progress(f"append, {label}: raw INSERT and event store, {rounds} rounds each ...")
        measures = [lambda n=n: writers(n, duration, raw_step),
                    lambda n=n: writers(n, duration, store_step),
                    lambda n=n: writers(n, duration, unchained_step),
                    lambda n=n: writers(n, duration, lambda w: store_step(w, unindexed))]
        if n == 8:
            measures.append(lambda: writers(8, duration, notify_inside_step))
        raw, ours, before, without, *notify = await alternate(rounds, *measures)
        progress(f"  raw {raw:,.0f}/s, store {ours:,.0f}/s")
        chain_cost(f"append_{label}", ours, before)
        index_cost(f"append_{label}", ours, without)
        results.append(ratio_result(
            f"append_{label}", ours, "events/s", f"raw psycopg single-row INSERT, {n} writer(s)",
            raw, TARGET_APPEND_RATIO))
        if notify:
            progress(f"  NOTIFY inside the append transaction: {notify[0]:,.0f}/s")
            results.append(ratio_result(
                "append_8_writers_notify_in_transaction", notify[0], "events/s",
                "our append, 8 writers, wake-up after commit (what we ship)", ours, None))

    progress("append, batches of 100 ...")

    def raw_batch_step(w: int):
        rows = [(f"channel-{w}", "MessageSent", payload)] * 100

        async def step() -> int:
            async with pool.connection() as conn, conn.cursor() as cur:
                await cur.executemany(RAW_INSERT, rows)
            return 100
        return step

    def store_batch_step(w: int, on: EventStore = store):
        async def step() -> int:
            await on.append(f"channel-{uuid.uuid4()}", [NewEvent(sample(i)) for i in range(100)])
            return 100
        return step

    raw, ours, before, without, in_sql = await alternate(
        rounds, lambda: writers(1, duration, raw_batch_step),
        lambda: writers(1, duration, store_batch_step),
        lambda: writers(1, duration, lambda w: store_batch_step(w, unchained)),
        lambda: writers(1, duration, lambda w: store_batch_step(w, unindexed)),
        lambda: writers(1, duration, lambda w: store_batch_step(w, sql_chained)))
    progress(f"  raw {raw:,.0f}/s, store {ours:,.0f}/s, chained in SQL {in_sql:,.0f}/s")
    chain_cost("append_batch_100", ours, before)
    index_cost("append_batch_100", ours, without)
    results.append(ratio_result(
        "hash_chain_in_sql_append_batch_100", in_sql, "events/s",
        "the same appends with the statements and schema before the chain (batch_100)",
        before, None))
    results.append(ratio_result(
        "append_batch_100", ours, "events/s", "raw psycopg executemany of 100 rows, 1 writer",
        raw, None))

    progress("append inside a transaction, 8 writers: single events and batches of 3 ...")

    def raw_tx_step(size: int):
        def make(w: int):
            rows = [(f"channel-{w}", "MessageSent", payload)] * size

            async def step() -> int:
                async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                    await cur.executemany(RAW_INSERT, rows)
                return size
            return step
        return make

    def store_tx_step(size: int, on: EventStore = store):
        def make(w: int):
            async def step() -> int:
                async with on.transaction() as conn:
                    await on.append(f"message-{uuid.uuid4()}",
                                    [NewEvent(sample(i)) for i in range(size)], 0, conn=conn)
                return size
            return step
        return make

    for size in (1, 3):
        raw, ours, before = await alternate(
            rounds, lambda s=size: writers(8, duration, raw_tx_step(s)),
            lambda s=size: writers(8, duration, store_tx_step(s)),
            lambda s=size: writers(8, duration, store_tx_step(s, unchained)))
        progress(f"  batches of {size}: raw {raw:,.0f}/s, store {ours:,.0f}/s")
        chain_cost(f"append_in_transaction_8_writers_batch_{size}", ours, before)
        results.append(ratio_result(
            f"append_in_transaction_8_writers_batch_{size}", ours, "events/s",
            f"raw psycopg INSERT of {size} row(s) in a transaction, 8 writers", raw, None))

    progress("the append statements alone (one transaction, rolled back: no commits) ...")

    cpu: dict[tuple[str, int], list[float]] = {}

    async def statements_only(on: EventStore, size: int, name: str) -> float:
        """Events/s of appends run back to back inside one transaction that is rolled
        back: the statements' own cost, without the commit's fsync (the noisiest part on a
        shared machine), so an upper bound of the chain's share of an append. Also notes
        the CPU time per event (the server backend's, read from /proc when the server is
        local, plus this process's): what the lead compares under load, where wall-clock
        rates swing with the other sessions."""
        async with on.pool.connection() as conn, conn.transaction(force_rollback=True):
            backend = await backend_cpu_reader(conn)
            count, start = 0, time.perf_counter()
            server0, client0 = backend(), time.process_time()
            while time.perf_counter() - start < duration:
                await on.append(f"message-{uuid.uuid4()}",
                                [NewEvent(sample(i)) for i in range(size)], 0, conn=conn)
                count += size
            rate = count / (time.perf_counter() - start)
            server = backend() - server0
            if server0 >= 0:
                cpu.setdefault((name, size), []).append(
                    (server + time.process_time() - client0) / count * 1e6)
            return rate

    for size in (1, 100):
        ours, before, without = await alternate(
            rounds, lambda s=size: statements_only(store, s, "ours"),
            lambda s=size: statements_only(unchained, s, "before"),
            lambda s=size: statements_only(unindexed, s, "without"))
        chain_cost(f"statements_only_batch_{size}", ours, before)
        index_cost(f"statements_only_batch_{size}", ours, without)
        if cpu.get(("ours", size)) and cpu.get(("before", size)):
            ours_us = statistics.median(cpu[("ours", size)])
            before_us = statistics.median(cpu[("before", size)])
            progress(f"  CPU per event (server + client): {ours_us:.1f} us, before the chain"
                     f" {before_us:.1f} us ({(ours_us / before_us - 1) * 100:+.1f} %)")
            results.append(ratio_result(
                f"hash_chain_cpu_statements_only_batch_{size}", ours_us, "us CPU/event",
                "the same statements before the chain: server backend + client CPU time",
                before_us, TARGET_CHAIN_RATIO, lower_is_better=True))
            if size == 100:  # the most a chained statement could reach (bench/_chain_floor.py)
                async with pool.connection() as conn:
                    digests = await digests_us_per_event(conn)
                progress(f"  the chain's two digests alone: {digests:.1f} us an event")
                results.append(ratio_result(
                    "hash_chain_floor_batch_100", before_us + digests, "us CPU/event",
                    "the same statements before the chain, to which a chain adds at least its"
                    " two digests (computed alone by PostgreSQL over the appended events)",
                    before_us, TARGET_CHAIN_RATIO, lower_is_better=True))

    progress("delivery once an open transaction that holds readers back ends ...")
    held = await held_back_delivery(store, sample, pool, 15 if quick else 60)
    p50, p99 = percentile(held, 50), percentile(held, 99)
    progress(f"  {len(held)} holds: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    results.append(target_result("held_back_delivery_p50", p50, "ms", TARGET_HELD_P50_MS))
    results.append(target_result("held_back_delivery_p99", p99, "ms", TARGET_LATENCY_P99_MS))

    progress("read-all, decoded ...")
    async with pool.connection() as conn:
        total = (await (await conn.execute("SELECT count(*) FROM events")).fetchone())[0]

    async def raw_read(columns: str, json_columns: tuple[int, ...]) -> float:
        """Hand-written keyset paging over the same rows, JSON decoded to dicts."""
        decode = msgspec.json.decode
        start = time.perf_counter()
        count, last = 0, 0
        async with pool.connection() as conn:
            while True:
                cur = conn.cursor(binary=True)
                await cur.execute(
                    f"SELECT {columns} FROM events WHERE position > %s"
                    " ORDER BY position LIMIT 1000", (last,))
                rows = await cur.fetchall()
                if not rows:
                    break
                for row in rows:
                    for i in json_columns:
                        decode(row[i])
                count += len(rows)
                last = rows[-1][0]
        return count / (time.perf_counter() - start)

    async def store_read() -> float:
        start = time.perf_counter()
        count = 0
        after = None
        while True:
            page = await store.read_all(after, limit=1000) if after else await store.read_all(
                limit=1000)
            if not page:
                break
            count += len(page)
            after = page[-1].position
        return count / (time.perf_counter() - start)

    raw, thin, ours = await alternate(
        rounds, lambda: raw_read(RAW_EVENT_COLUMNS, (8, 9)),
        lambda: raw_read("position, stream_id, type, data::text", (3,)), store_read)
    progress(f"  {total:,} events: raw {raw:,.0f}/s (thin {thin:,.0f}/s), store {ours:,.0f}/s")
    results.append(ratio_result(
        "read_all_decoded", ours, "events/s",
        "raw keyset-paged SELECT of the same event columns, data+metadata JSON-decoded",
        raw, TARGET_READ_RATIO))
    results.append(ratio_result(
        "read_all_decoded_vs_thin", ours, "events/s",
        "raw keyset-paged SELECT of 4 columns, data JSON-decoded (a lower bound)",
        thin, None))

    progress("subscription latency at 500 appends/s ...")
    latencies = await subscription_latency(store, sample, 3.0 if quick else 15.0, 500)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    progress(f"  {len(latencies)} events: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    results.append(target_result("subscription_latency_p50", p50, "ms", TARGET_LATENCY_P99_MS))
    results.append(target_result("subscription_latency_p99", p99, "ms", TARGET_LATENCY_P99_MS))
    await store.close()
    await pool.close()
    await unchained.close()
    await before_pool.close()
    drop_database(before_url)
    await unindexed.close()
    await unindexed_pool.close()
    drop_database(unindexed_url)
    await sql_chained.close()
    await sql_pool.close()
    drop_database(sql_url)
    return results


def main() -> None:
    run_database_bench("event_store", __doc__ or "", run)


if __name__ == "__main__":
    main()
