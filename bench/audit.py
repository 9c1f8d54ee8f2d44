"""The log as a product (issue 11): audit-log and raw-log pages, time travel, verify.

    python bench/audit.py [--quick]

On a log of 1,000,000 events (40,000 with --quick) shaped like a community's, seeded
through the event store in big batches (100 events per append; messages, one stream each,
200 appends per transaction; 4 writers of each at once): one hot channel holding 10 % of
the log as messages (100,000 in the full run, with pins and deletions) and a few thousand
membership changes, other channels' membership changes (70 %), audited actions
(suspensions with actor, address and user agent, 10 %) and logins (10 %, audited):

- the audit-log page (newest first, 100 entries; unfiltered, by target, by actor, by
  action, in a time range) p99 <= 50 ms;
- a filtered GET /admin/events page (100 events, newest first: by type, by actor, by
  stream, by category, by correlation id, in a time range) p99 <= 50 ms;
- the hot channel's state at a past position (90 % into its messages), folded from the
  log, <= 1 s (its state now is measured too, and checked against the seeded counts);
- `events verify` (every chain, every checkpoint) >= 50,000 events/s.

CHATALOT_BENCH_EVENTS=N seeds N events instead; CHATALOT_BENCH_EXPLAIN=1 prints each
page's and the time travel's EXPLAIN (ANALYZE, BUFFERS) to stderr.
The hash chain's cost on appends is measured by bench/event_store.py (hash_chain_*).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from _common import percentile, progress, run_database_bench, target_result

from chatalot.bootstrap import build_registry
from chatalot.db import MIGRATIONS_DIR, make_pool
from chatalot.domain.accounts.events import LoginSucceeded, UserSuspended
from chatalot.domain.logbook.rules import LogScope
from chatalot.domain.messaging.events import MessageDeleted, MessagePinned, MessageSent
from chatalot.domain.spaces.events import ChannelCreated, ChannelMemberJoined, ChannelMemberLeft
from chatalot.logbook import audit_queries, log_queries
from chatalot.logbook.audit_queries import AuditFilter
from chatalot.logbook.context import Audit
from chatalot.logbook.log_queries import EventFilter
from chatalot.logbook.time_travel import channel_state, fold_statement
from event_store import EventStore, Metadata, NewEvent, Position
from event_store.integrity import verify, write_checkpoint
from event_store.migrations import migrate
from projections import ProjectionHost, RunnerOptions

TARGET_PAGE_P99_MS = 50.0
TARGET_STATE_S = 1.0
TARGET_VERIFY_RATE = 50_000.0
COMMUNITY = uuid.UUID(int=1)
GROUP = uuid.UUID(int=2)
HOT = uuid.UUID(int=3)
ADMIN = uuid.UUID(int=4)
USERS = [uuid.UUID(int=1000 + i) for i in range(2000)]
BATCH = 100  # events per append
MESSAGES_PER_TX = 200  # message appends per transaction
WRITERS = 4
EXPLAIN = os.environ.get("CHATALOT_BENCH_EXPLAIN") == "1"


def meta(i: int) -> Metadata:
    return Metadata(actor_id=str(ADMIN if i % 7 == 0 else USERS[i % len(USERS)]),
                    correlation_id=str(uuid.UUID(int=i)), ip=f"10.0.{i % 250}.{i % 200}",
                    user_agent="bench/1")


def batch(i: int) -> tuple[str, list[NewEvent]]:
    """BATCH events per append: the hot channel's membership (1 batch in 100), other
    channels (70 %), suspensions (10 %, audited), logins (10 %, audited)."""
    kind = i % 10
    user = USERS[i % len(USERS)]
    base = i * BATCH
    if i % 100 == 0:
        return f"channel-{HOT}", [
            NewEvent(ChannelMemberJoined(channel_id=HOT, community_id=COMMUNITY,
                                         user_id=USERS[(i + k) % len(USERS)], role="member"),
                     metadata=meta(base + k)) if k % 2 == 0 else
            NewEvent(ChannelMemberLeft(channel_id=HOT, community_id=COMMUNITY,
                                       user_id=USERS[(i + k - 1) % len(USERS)]),
                     metadata=meta(base + k)) for k in range(BATCH)]
    if kind < 8:
        channel = uuid.UUID(int=10_000 + i % 500)
        return f"channel-{channel}", [NewEvent(ChannelMemberJoined(
            channel_id=channel, community_id=COMMUNITY, user_id=USERS[(i + k) % len(USERS)],
            role="member"), metadata=meta(base + k)) for k in range(BATCH)]
    if kind == 8:
        return f"user-{user}", [NewEvent(UserSuspended(user_id=user, reason=f"r{i}"),
                                         metadata=meta(base + k)) for k in range(BATCH)]
    return f"user-{user}", [NewEvent(LoginSucceeded(user_id=user, session_id=uuid.uuid4()),
                                     metadata=meta(base + k)) for k in range(BATCH)]


def message(j: int) -> tuple[uuid.UUID, uuid.UUID, list[NewEvent]]:
    """The j-th message of the hot channel: its stream's events (every 1000th is pinned,
    every 100th deleted)."""
    mid, sender = uuid.UUID(int=(1 << 64) + j), USERS[j % len(USERS)]
    m = Metadata(actor_id=str(sender), correlation_id=str(uuid.uuid4()))
    events = [NewEvent(MessageSent(
        message_id=mid, channel_id=HOT, sender_id=sender, ciphertext="aGVsbG8gd29ybGQ=",
        nonce="", encryption="none", message_type="text"), metadata=m)]
    if j % 1000 == 0:
        events.append(NewEvent(MessagePinned(message_id=mid, channel_id=HOT, pinned_by=ADMIN),
                               metadata=m))
    if j % 100 == 50:
        events.append(NewEvent(MessageDeleted(message_id=mid, channel_id=HOT,
                                              deleted_by=sender, by_moderator=False),
                               metadata=m))
    return mid, sender, events


_DECISION_ROWS = """
INSERT INTO messaging_messages (message_id, channel_id, sender_id, encryption, sent_at,
                                deleted, pinned)
SELECT m, %s, s, 'none', now(), d, p
  FROM unnest(%s::uuid[], %s::uuid[], %s::boolean[], %s::boolean[]) AS t(m, s, d, p)
"""


async def seed(store: EventStore, total: int, messages: int) -> list[Position]:
    """Returns positions along the hot channel's messages (each one after a transaction
    of messages), in commit order."""
    await store.append(f"channel-{HOT}", [NewEvent(ChannelCreated(
        channel_id=HOT, community_id=COMMUNITY, group_id=GROUP, kind="text", name="hot",
        user_id=ADMIN))])
    marks: list[Position] = []
    started = time.perf_counter()
    done = 0

    def count(n: int) -> None:
        nonlocal done
        before, done = done, done + n
        if before // 100_000 != done // 100_000:
            progress(f"  seeded {done:,} events ({time.perf_counter() - started:.0f} s)")

    async def log_writer(w: int) -> None:
        for i in range(w, (total - messages) // BATCH, WRITERS):
            stream, events = batch(i)
            await store.append(stream, events)
            count(len(events))

    async def message_writer(w: int) -> None:
        for first in range(w * MESSAGES_PER_TX, messages, WRITERS * MESSAGES_PER_TX):
            rows: list[tuple[uuid.UUID, uuid.UUID, bool, bool]] = []
            n = 0
            async with store.transaction() as conn:
                for j in range(first, min(first + MESSAGES_PER_TX, messages)):
                    mid, sender, events = message(j)
                    result = await store.append(f"message-{mid}", events, 0, conn=conn)
                    rows.append((mid, sender, j % 100 == 50, j % 1000 == 0 and j % 100 != 50))
                    n += len(events)
                await conn.execute(_DECISION_ROWS, (HOT, *map(list, zip(*rows, strict=True))))
            marks.append(result.position)
            count(n)

    await asyncio.gather(*(log_writer(w) for w in range(WRITERS)),
                         *(message_writer(w) for w in range(WRITERS)))
    progress(f"  seeded {done:,} events in {time.perf_counter() - started:.1f} s")
    return sorted(marks)


async def timed(n: int, call: Any) -> list[float]:
    out = []
    for i in range(n):
        started = time.perf_counter()
        await call(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def wait_live(host: ProjectionHost, store: EventStore) -> None:
    head = await store.head()
    while True:
        (status,) = [s for s in await host.status() if s.name == "audit_log"]
        if status.label == "live" and status.position and Position.parse(
                status.position) >= head:
            return
        await asyncio.sleep(0.2)


async def explain(pool: Any, store: EventStore, metric: str, f: Any) -> None:
    """The plan of one page's statement, as the route runs it (CHATALOT_BENCH_EXPLAIN=1)."""
    async with pool.connection() as conn:
        if isinstance(f, EventFilter):
            query, params = log_queries.page_statement(
                f, store.epoch, 101, by_time=await log_queries.small_window(conn, f))
        else:
            query, params = audit_queries.page_statement(f, None, 101)
        cur = await conn.execute(b"EXPLAIN (ANALYZE, BUFFERS) " + query.as_bytes(conn),
                                 params)
        plan = "\n".join(f"    {r[0]}" for r in await cur.fetchall())
    progress(f"  {metric}:\n{plan}")


async def pages(pool: Any, store: EventStore, n: int, window: tuple[datetime, datetime]
                ) -> list[dict[str, Any]]:
    """p99 of each filtered page, 100 items, newest first (the filters vary per call)."""
    since, until = window
    user = lambda i: str(USERS[i * 37 % len(USERS)])  # noqa: E731
    filters: dict[str, Any] = {
        "audit_log_page": lambda i: AuditFilter(),
        "audit_log_page_by_target": lambda i: AuditFilter(target=user(i)),
        "audit_log_page_by_actor": lambda i: AuditFilter(actor=user(i)),
        "audit_log_page_by_action": lambda i: AuditFilter(actions=("UserSuspended",)),
        "audit_log_page_time_range": lambda i: AuditFilter(since=since, until=until),
        "events_page_by_type": lambda i: EventFilter(types=("UserSuspended",),
                                                     newest_first=True),
        "events_page_by_actor": lambda i: EventFilter(actor=user(i), newest_first=True),
        "events_page_by_stream": lambda i: EventFilter(stream=f"channel-{HOT}",
                                                       newest_first=True),
        "events_page_by_category": lambda i: EventFilter(category="user", newest_first=True),
        "events_page_by_correlation_id": lambda i: EventFilter(
            correlation_id=str(uuid.UUID(int=i * 7919 % 500_000)), newest_first=True),
        "events_page_time_range": lambda i: EventFilter(since=since, until=until,
                                                        newest_first=True),
    }
    results = []
    for metric, make in filters.items():
        if isinstance(make(0), EventFilter):
            def call(i: int, make: Any = make) -> Any:
                return log_queries.events_page(pool, store, make(i), None, 100)
        else:
            def call(i: int, make: Any = make) -> Any:
                return audit_queries.audit_page(pool, make(i), None, 100)
        await timed(5, call)  # warm
        samples = await timed(n, call)
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        progress(f"{metric}: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        if EXPLAIN:
            await explain(pool, store, metric, make(1))
        results.append(target_result(f"{metric}_p99", p99, "ms", TARGET_PAGE_P99_MS))
    return results


async def time_travel(store: EventStore, marks: list[Position], messages: int
                      ) -> list[dict[str, Any]]:
    past = marks[len(marks) * 9 // 10]
    if EXPLAIN:
        query, params = fold_statement(store.epoch, HOT, [
            f"channel-{HOT}", f"group-{GROUP}", f"community-{COMMUNITY}"], past, None)
        async with store.pool.connection() as conn:
            cur = await conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, params)
            plan = "\n".join(f"    {r[0]}" for r in await cur.fetchall())
        progress(f"  channel state:\n{plan}")
    started = time.perf_counter()
    then = await channel_state(store, HOT, LogScope(None), at=past)
    seconds = time.perf_counter() - started
    progress(f"hot channel state at a past position: {seconds:.2f} s"
             f" ({then.message_count:,} messages, {len(then.members)} members)")
    started = time.perf_counter()
    now = await channel_state(store, HOT, LogScope(None))
    now_seconds = time.perf_counter() - started
    progress(f"hot channel state now: {now_seconds:.2f} s ({now.message_count:,} messages,"
             f" {len(now.pins)} pins)")
    deleted = len(range(50, messages, 100))
    assert now.message_count == messages - deleted, now.message_count
    assert len(now.pins) == len(range(0, messages, 1000)), now.pins
    assert then.message_count < now.message_count
    return [target_result("channel_state_at_past_position", seconds, "s", TARGET_STATE_S),
            target_result("channel_state_now", now_seconds, "s", TARGET_STATE_S)]


async def run(quick: bool, url: str) -> list[dict[str, Any]]:
    total = int(os.environ.get("CHATALOT_BENCH_EVENTS", 0)) or (40_000 if quick else 1_000_000)
    messages = total // 10  # the hot channel's, one stream each
    await migrate(url, MIGRATIONS_DIR)
    pool = make_pool(url, min_size=4, max_size=2 * WRITERS + 4)
    await pool.open(wait=True)
    store = EventStore(pool, build_registry())
    await store.start()
    results: list[dict[str, Any]] = []
    host = ProjectionHost(store, [Audit()], run=True, options=RunnerOptions(
        bulk_batch=5000, live_batch=500, lease_interval=0.2, drop_delay=0.5, node="bench"))
    try:
        progress(f"seeding {total:,} events ({messages:,} of them the hot channel's messages)")
        seeding = datetime.now(UTC)
        marks = await seed(store, total, messages)
        seeded = datetime.now(UTC)
        async with pool.connection() as conn:
            await conn.execute("VACUUM ANALYZE events")
            await conn.execute("VACUUM ANALYZE messaging_messages")
        await host.start()
        progress("building the audit log ...")
        started = time.perf_counter()
        await wait_live(host, store)
        progress(f"  built in {time.perf_counter() - started:.1f} s")
        async with pool.connection() as conn:
            await conn.execute("VACUUM ANALYZE")
        # a window of about 1 % of the seeding time, in its middle
        middle, width = seeding + (seeded - seeding) / 2, (seeded - seeding) / 200
        results += await pages(pool, store, 30 if quick else 200,
                               (middle - width, middle + width))
        results += await time_travel(store, marks, messages)

        async with pool.connection() as conn:
            while await write_checkpoint(conn, store.epoch) is not None:
                pass
            started = time.perf_counter()
            report = await verify(conn)
            seconds = time.perf_counter() - started
        assert report.ok, report
        rate = report.events / seconds
        progress(f"verify: {report.events:,} events in {seconds:.1f} s: {rate:,.0f} events/s")
        results.append(target_result("verify_rate", rate, "events/s", TARGET_VERIFY_RATE,
                                     lower_is_better=False))
    finally:
        await host.close()
        await store.close()
        await pool.close()
    return results


def main() -> None:
    run_database_bench("audit", __doc__ or "", run)


if __name__ == "__main__":
    main()
