"""GET /api/admin/audit-log: the audit read model (projections/read_models/audit.py),
filtered and paged newest first (or oldest first) by log position."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from chatalot.contracts import iso
from chatalot.logbook.contracts import AuditEntry, AuditPage
from chatalot.logbook.log_queries import limit_of, parse_position, successor, time_range
from event_store import Position
from projections.projector import read_model


class AuditFilter(msgspec.Struct, frozen=True, kw_only=True):
    actor: str | None = None
    target: str | None = None
    actions: tuple[str, ...] = ()
    community_id: uuid.UUID | None = None
    channel_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    oldest_first: bool = False
    communities_in: tuple[uuid.UUID, ...] | None = None  # a community moderator's scope


def _conditions(f: AuditFilter) -> tuple[list[sql.Composable], list[Any]]:
    where: list[sql.Composable] = [sql.SQL("true")]
    params: list[Any] = []
    for column, value in (("actor_id", f.actor), ("target_user_id", f.target),
                          ("community_id", f.community_id), ("channel_id", f.channel_id)):
        if value is not None:
            where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(str(value))
    if f.actions:
        where.append(sql.SQL("action = ANY(%s::text[])"))
        params.append(list(f.actions))
    times, values = time_range("created_at", f.since, f.until)
    where += times
    params += values
    if f.communities_in is not None:
        where.append(sql.SQL("community_id = ANY(%s::text[])"))
        params.append([str(c) for c in f.communities_in])
    return where, params


def _entry(r: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        id=r["event_id"],
        position=Position(r["epoch"], r["transaction_id"], r["sequence"]).encode(),
        action=r["action"], actor_id=r["actor_id"], target_user_id=r["target_user_id"],
        community_id=r["community_id"], channel_id=r["channel_id"], reason=r["reason"],
        ip=r["ip"], user_agent=r["user_agent"], created_at=iso(r["created_at"]))


def page_statement(f: AuditFilter, at: Position | None, limit: int
                   ) -> tuple[sql.Composed, list[Any]]:
    """One page's statement and parameters (bench/audit.py explains it)."""
    where, params = _conditions(f)
    # `>=`/`<=` (after/before the cursor): the planner estimates a row comparison by its
    # first column alone, and `epoch < the current epoch` reads as "no rows".
    op, direction = (">=", "ASC") if f.oldest_first else ("<=", "DESC")
    if at is not None:
        where.append(sql.SQL(f"(epoch, transaction_id, sequence) {op} (%s, %s, %s)"))
        params += (list(successor(at)) if f.oldest_first
                   else [at.epoch, at.transaction_id, at.sequence - 1])
    query = sql.SQL(
        "SELECT * FROM {t} WHERE {w} ORDER BY epoch {d}, transaction_id {d}, sequence {d}"
        " LIMIT %s").format(t=read_model("audit_log"), w=sql.SQL(" AND ").join(where),
                            d=sql.SQL(direction))
    return query, [*params, limit]


async def audit_page(pool: AsyncConnectionPool[Any], f: AuditFilter, cursor: str | None,
                     limit: int | None) -> AuditPage:
    size = limit_of(limit)
    query, params = page_statement(f, parse_position(cursor, "cursor"), size + 1)
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    items = [_entry(r) for r in rows[:size]]
    return AuditPage(items=items, next_cursor=items[-1].position if len(rows) > size else None)
