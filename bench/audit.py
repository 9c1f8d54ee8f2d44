"""The log as a product (issue 11): audit-log and raw-log pages, time travel, verify.

    python bench/audit.py [--quick]

On a log of 1,000,000 events (40,000 with --quick) shaped like a community's: channel
streams of membership changes (one hot channel holds 10 % of the log: 100,000 events in the
full run), audited actions (suspensions with actor, address and user agent) and logins:

- the audit-log page (newest first, 100 entries, and filtered by target) p99 <= 50 ms;
- a filtered GET /admin/events page (by type, by actor; 100 events, newest first)
  p99 <= 50 ms;
- a channel's state at a past position, folded from the log, for the hot channel <= 1 s
  (its 100,000 events are membership changes: messages live in messaging's streams, which
  the fold does not read yet, see docs/log.md);
- `events verify` (every chain, every checkpoint) >= 50,000 events/s.

The hash chain's cost on appends is measured by bench/event_store.py (hash_chain_*).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from _common import percentile, progress, run_database_bench, target_result

from chatalot.bootstrap import build_registry
from chatalot.db import MIGRATIONS_DIR, make_pool
from chatalot.domain.accounts.events import LoginSucceeded, UserSuspended
from chatalot.domain.logbook.rules import LogScope
from chatalot.domain.spaces.events import ChannelCreated, ChannelMemberJoined, ChannelMemberLeft
from chatalot.logbook import audit_queries, log_queries
from chatalot.logbook.audit_queries import AuditFilter
from chatalot.logbook.context import Audit
from chatalot.logbook.log_queries import EventFilter
from chatalot.logbook.time_travel import channel_state
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


def meta(i: int) -> Metadata:
    return Metadata(actor_id=str(ADMIN if i % 7 == 0 else USERS[i % len(USERS)]),
                    correlation_id=str(uuid.UUID(int=i)), ip=f"10.0.{i % 250}.{i % 200}",
                    user_agent="bench/1")


def batch(i: int) -> tuple[str, list[NewEvent]]:
    """10 events per append: the hot channel (10 %), other channels (70 %), suspensions
    (10 %, audited), logins (10 %, audited)."""
    kind = i % 10
    user = USERS[i % len(USERS)]
    if kind == 0:
        events = [NewEvent(ChannelMemberJoined(channel_id=HOT, community_id=COMMUNITY,
                                               user_id=USERS[(i + k) % len(USERS)],
                                               role="member"), metadata=meta(i))
                  if k % 2 == 0 else
                  NewEvent(ChannelMemberLeft(channel_id=HOT, community_id=COMMUNITY,
                                             user_id=USERS[(i + k - 1) % len(USERS)]),
                           metadata=meta(i)) for k in range(10)]
        return f"channel-{HOT}", events
    if kind < 8:
        channel = uuid.UUID(int=10_000 + i % 500)
        return f"channel-{channel}", [NewEvent(ChannelMemberJoined(
            channel_id=channel, community_id=COMMUNITY, user_id=user, role="member"),
            metadata=meta(i)) for _ in range(10)]
    if kind == 8:
        return f"user-{user}", [NewEvent(UserSuspended(user_id=user, reason=f"r{i}"),
                                         metadata=meta(i)) for _ in range(10)]
    return f"user-{user}", [NewEvent(LoginSucceeded(user_id=user, session_id=uuid.uuid4()),
                                     metadata=meta(i)) for _ in range(10)]


async def seed(store: EventStore, total: int) -> list[Position]:
    """Returns positions along the hot channel's history."""
    await store.append(f"channel-{HOT}", [NewEvent(ChannelCreated(
        channel_id=HOT, community_id=COMMUNITY, group_id=GROUP, kind="text", name="hot",
        user_id=ADMIN))])
    marks: list[Position] = []
    started = time.perf_counter()
    done = 0

    async def writer(w: int, writers: int) -> None:
        nonlocal done
        for i in range(w, total // 10, writers):
            stream, events = batch(i)
            result = await store.append(stream, events)
            if stream == f"channel-{HOT}" and i % 500 == 0:
                marks.append(result.positions[-1])
            done += 1
            if done % 10_000 == 0:
                progress(f"  seeded {done * 10:,} events")

    await asyncio.gather(*(writer(w, 4) for w in range(4)))
    progress(f"  seeded {total:,} events in {time.perf_counter() - started:.1f} s")
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


async def run(quick: bool, url: str) -> list[dict[str, Any]]:
    total = 40_000 if quick else 1_000_000
    await migrate(url, MIGRATIONS_DIR)
    pool = make_pool(url, min_size=4, max_size=10)
    await pool.open(wait=True)
    store = EventStore(pool, build_registry())
    await store.start()
    results: list[dict[str, Any]] = []
    host = ProjectionHost(store, [Audit()], run=True, options=RunnerOptions(
        bulk_batch=5000, live_batch=500, lease_interval=0.2, drop_delay=0.5, node="bench"))
    try:
        progress(f"seeding {total:,} events ...")
        marks = await seed(store, total)
        async with pool.connection() as conn:
            await conn.execute("VACUUM ANALYZE events")
        await host.start()
        progress("building the audit log ...")
        await wait_live(host, store)
        n = 50 if quick else 200

        pages = {
            "audit_log_page": lambda i: audit_queries.audit_page(pool, AuditFilter(), None, 100),
            "audit_log_page_by_target": lambda i: audit_queries.audit_page(
                pool, AuditFilter(target=str(USERS[i * 37 % len(USERS)])), None, 100),
            "events_page_by_type": lambda i: log_queries.events_page(
                pool, store, EventFilter(types=("UserSuspended",), newest_first=True),
                None, 100),
            "events_page_by_actor": lambda i: log_queries.events_page(
                pool, store, EventFilter(actor=str(USERS[i * 37 % len(USERS)]),
                                         newest_first=True), None, 100),
        }
        for metric, call in pages.items():
            await timed(5, call)  # warm
            samples = await timed(n, call)
            p50, p99 = percentile(samples, 50), percentile(samples, 99)
            progress(f"{metric}: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
            results.append(target_result(f"{metric}_p99", p99, "ms", TARGET_PAGE_P99_MS))

        past = marks[len(marks) // 2]
        started = time.perf_counter()
        state = await channel_state(store, HOT, LogScope(None), at=past)
        seconds = time.perf_counter() - started
        hot = total // 10
        progress(f"hot channel ({hot:,} events) state at a past position: {seconds:.2f} s,"
                 f" {len(state.members)} members")
        results.append(target_result("channel_state_at_past_position", seconds, "s",
                                     TARGET_STATE_S))

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
