"""Spaces costs with big communities (issue 10).

    python bench/spaces.py [--quick]

On a scratch database (an embedded PostgreSQL when DATABASE_URL is unset), through the
real commands and queries (no HTTP):

- queries_per_join / queries_per_role_change: SQL statements one command sends, counted
  on its connection (the permission check is one of them: one indexed round trip);
  permission_check_seq_scans: sequential scans in the plan of the community access query
  with the full membership (0: it is answered from primary-key lookups).
- join_p99 / role_change_p99 with 10,000 members in the community (2,000 with --quick),
  beside a floor: the bare `run_command` appending one event to the same stream.
- member_page_p99: one page of 50 of GET /communities/{id}/members (the query function,
  access check included) at random depths, with 100,000 members (20,000 with --quick);
  target 20 ms.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import msgspec
import psycopg
from _common import percentile, progress, ratio_result, run_database_bench, target_result
from psycopg import sql

from chatalot.accounts.queries import encode_cursor
from chatalot.bootstrap import build_registry
from chatalot.command_tx import run_command
from chatalot.db import MIGRATIONS_DIR, make_pool
from chatalot.domain.streams import community_stream
from chatalot.request_info import RequestInfo
from chatalot.spaces import contracts as c
from chatalot.spaces import queries
from chatalot.spaces.access import _COMMUNITY, COMMUNITY_LOCKS
from chatalot.spaces.commands import communities, groups, members
from chatalot.spaces.runtime import SpacesRuntime
from event_store import EventStore
from event_store.migrations import migrate
from projections.read_models.spaces import Spaces

# Targets set by issue 10.
TARGET_MEMBER_PAGE_P99_MS = 20.0  # a page of 50 members with 100,000 in the community
TARGET_PERMISSION_SEQ_SCANS = 0  # the permission check: indexed lookups only
INFO = RequestInfo()


class Probe(msgspec.Struct, frozen=True):
    n: int


class CountingCursor(psycopg.AsyncCursor[Any]):
    count = 0

    async def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
        CountingCursor.count += 1
        return await super().execute(query, params, **kw)


async def seed_users(conn: Any, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    await conn.execute(
        "INSERT INTO account_users (user_id, username, username_key)"
        " SELECT u, 'b' || u, 'b' || u FROM unnest(%s::uuid[]) u",
        (ids,))
    return ids


def seq_scans(node: Any) -> list[str]:
    """Relations read by sequential scan anywhere in an EXPLAIN (FORMAT JSON) plan (an
    empty table, such as community_bans here, is scanned: that costs nothing)."""
    if isinstance(node, list):
        return [t for item in node for t in seq_scans(item)]
    if not isinstance(node, dict):
        return []
    found = [node["Relation Name"]] if node.get("Node Type") == "Seq Scan" else []
    for key in ("Plan", "Plans"):
        if key in node:
            found += seq_scans(node[key])
    return found


async def run(quick: bool, url: str) -> list[dict[str, Any]]:
    await migrate(url, MIGRATIONS_DIR)
    big, huge, ops = (2_000, 20_000, 60) if quick else (10_000, 100_000, 300)
    pool = make_pool(url, min_size=1, max_size=4)
    pool.kwargs["cursor_factory"] = CountingCursor  # every statement is counted
    await pool.open(wait=True)
    registry = build_registry()
    registry.register(Probe)
    store = EventStore(pool, registry)
    await store.start()
    rt = SpacesRuntime(store, pool)
    results: list[dict[str, Any]] = []
    try:
        async with pool.connection() as conn:
            owner, *users = await seed_users(conn, big + 2 * ops + 1)
        cid, _ = await communities.create_community(
            rt, owner, c.CreateCommunity(name="big", public=True), INFO)
        gid, _ = await groups.create_group(rt, owner, c.CreateGroup(community_id=cid,
                                                                     name="general"), INFO)
        await groups.create_channel(rt, owner, gid, c.CreateChannel(name="chat"), INFO)
        seeded, joiners = users[:big], users[big:]
        progress(f"seeding {big} members (decision tables)")
        async with pool.connection() as conn:
            for table, key in (("community_members", cid), ("group_members", gid)):
                await conn.execute(
                    f"INSERT INTO {table} SELECT %s, u, 'member', now()"
                    " FROM unnest(%s::uuid[]) u", (key, seeded))
            await conn.execute("ANALYZE")

        async def count_queries(coro: Any) -> int:
            before = CountingCursor.count
            await coro
            return CountingCursor.count - before
        join_queries = await count_queries(
            communities.join_community(rt, joiners[0], cid, INFO))
        role_queries = await count_queries(members.set_role(
            rt, owner, cid, seeded[0], c.SetRole(role="moderator"), INFO))
        results.append({"metric": "queries_per_join", "value": join_queries,
                        "unit": "statements"})
        results.append({"metric": "queries_per_role_change", "value": role_queries,
                        "unit": "statements"})
        async with pool.connection() as conn:
            cur = await conn.execute(("EXPLAIN (FORMAT JSON) " + _COMMUNITY.format(
                lock=COMMUNITY_LOCKS[None])).encode(), {"c": cid, "u": seeded[7]})
            plan = (await cur.fetchone())[0]  # type: ignore[index]
        scanned = sorted(seq_scans(plan))
        progress(f"access plan: sequential scans of {scanned or 'nothing'}")
        big_scans = [t for t in scanned if t in ("community_members", "account_users")]
        results.append(target_result("permission_check_seq_scans_of_big_tables",
                                     len(big_scans), "scans", TARGET_PERMISSION_SEQ_SCANS))

        progress(f"{ops} joins, {ops} role changes, {ops} floor commands")
        join_ms, role_ms, floor_ms = [], [], []
        for user in joiners[1:ops + 1]:
            t = time.perf_counter()
            await communities.join_community(rt, user, cid, INFO)
            join_ms.append((time.perf_counter() - t) * 1000)
        for i in range(ops):
            t = time.perf_counter()
            await members.set_role(rt, owner, cid, random.choice(seeded[1:]),
                                   c.SetRole(role="moderator" if i % 2 else "member"), INFO)
            role_ms.append((time.perf_counter() - t) * 1000)
        for i in range(ops):
            async def work(tx: Any, i: int = i) -> None:
                tx.append(community_stream(cid), Probe(n=i))
            t = time.perf_counter()
            await run_command(store, INFO.metadata("probe", owner), rt.now, work)
            floor_ms.append((time.perf_counter() - t) * 1000)
        floor = percentile(floor_ms, 99)
        results.append(ratio_result(f"join_p99_{big}_members", percentile(join_ms, 99), "ms",
                                    "run_command appending one event, p99", floor, None,
                                    lower_is_better=True))
        results.append(ratio_result(f"role_change_p99_{big}_members", percentile(role_ms, 99),
                                    "ms", "run_command appending one event, p99", floor, None,
                                    lower_is_better=True))

        progress(f"member page: {huge} members in the read model")
        results.append(await member_page(pool, huge, ops))
    finally:
        await store.close()
        await pool.close()
    return results


async def member_page(pool: Any, huge: int, pages: int) -> dict[str, Any]:
    """The spaces read model's tables (the projector's own DDL and indexes) behind the
    read_models views, filled with one community of `huge` members."""
    projector = Spaces()
    async with pool.connection() as conn:
        await conn.execute("CREATE SCHEMA IF NOT EXISTS read_models")
        await conn.execute("CREATE SCHEMA bench_spaces")
        for statement in projector.table_statements("bench_spaces"):
            await conn.execute(statement)
        await conn.execute("CREATE TABLE bench_spaces.users (user_id uuid PRIMARY KEY,"
                           " username text, display_name text, deleted boolean)")
        for table in [*projector.tables, "users"]:
            await conn.execute(sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT * FROM {}").format(
                sql.Identifier("read_models", table), sql.Identifier("bench_spaces", table)))
        viewer, *ids = await seed_users(conn, huge + 1)
        cid = uuid.uuid4()
        await conn.execute("INSERT INTO spaces_communities (community_id, owner_id, public)"
                           " VALUES (%s, %s, true)", (cid, viewer))
        await conn.execute("INSERT INTO community_members VALUES (%s, %s, 'owner', now())",
                           (cid, viewer))
        await conn.execute(
            "INSERT INTO bench_spaces.space_community_members (community_id, user_id, role,"
            " joined_at) SELECT %s, u, 'member', now() FROM unnest(%s::uuid[]) u", (cid, ids))
        await conn.execute("INSERT INTO bench_spaces.users SELECT u, 'n' || u, 'N' || u, false"
                           " FROM unnest(%s::uuid[]) u", (ids,))
        for statement in projector.index_statements("bench_spaces"):
            await conn.execute(statement)
        await conn.execute("ANALYZE")
    ordered = sorted(ids)
    times = []
    for _ in range(pages):
        cursor = encode_cursor(random.choice(ordered[:-60]))
        t = time.perf_counter()
        page = await queries.community_members(pool, viewer, cid, cursor, 50)
        times.append((time.perf_counter() - t) * 1000)
        assert len(page.items) == 50
    raw = []  # the floor: the same keyset page, one bare statement on a pooled connection
    for _ in range(pages):
        after = random.choice(ordered[:-60])
        t = time.perf_counter()
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT user_id, role, joined_at FROM bench_spaces.space_community_members"
                " WHERE community_id = %s AND user_id > %s ORDER BY user_id LIMIT 51",
                (cid, after))
            await cur.fetchall()
        raw.append((time.perf_counter() - t) * 1000)
    progress(f"member page: median {percentile(times, 50):.2f} ms,"
             f" bare page median {percentile(raw, 50):.2f} ms")
    result = target_result(f"member_page_p99_{huge}_members", percentile(times, 99), "ms",
                           TARGET_MEMBER_PAGE_P99_MS)
    result.update(baseline="one bare keyset SELECT of the page, p99",
                  baseline_value=round(percentile(raw, 99), 2),
                  ratio=round(percentile(raw, 99) / percentile(times, 99), 3))
    return result


if __name__ == "__main__":
    run_database_bench("spaces", __doc__ or "", run)
