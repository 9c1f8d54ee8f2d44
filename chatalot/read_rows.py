"""Rows of a read model, read the same way by every context's queries."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from chatalot.domain.errors import DomainError

Pool = AsyncConnectionPool[Any]
Conn = psycopg.AsyncConnection[Any]


def projection_lag() -> DomainError:
    """503: a read model's table does not exist yet (a first start, before its projector
    has created it), which is a wait, not a server error."""
    return DomainError("projection_lag", "the read models are still being built")


async def read_rows(source: Pool | Conn, query: str | sql.SQL | sql.Composed, params: Any = (), *,
                    prepare: bool | None = None) -> list[dict[str, Any]]:
    """A read model's rows as dicts, on the given connection (inside its transaction) or a
    pooled one. `prepare=False`: never a server-side prepared statement (a generic plan can
    be far worse than the plan for the actual values: messaging/search.py)."""
    try:
        if isinstance(source, AsyncConnectionPool):
            async with source.connection() as conn:
                return await _fetch(conn, query, params, prepare)
        return await _fetch(source, query, params, prepare)
    except psycopg.errors.UndefinedTable:
        raise projection_lag() from None


async def read_pipelined(conn: Conn, *statements: tuple[Any, Any]
                         ) -> list[list[dict[str, Any]]]:
    """Each (query, params)'s rows as dicts, the statements sent as one pipeline: one round
    trip for them all. The rows are read after the pipeline's block, whose Sync collects
    every answer: a fetch inside it would flush and wait on its own first
    (docs/architecture.md; tests/messaging/test_round_trips.py counts them)."""
    cursors = [conn.cursor(row_factory=dict_row) for _ in statements]
    try:
        async with conn.pipeline():
            for cur, (query, params) in zip(cursors, statements, strict=True):
                await cur.execute(query, params)
        return [await cur.fetchall() for cur in cursors]
    finally:
        for cur in cursors:
            await cur.close()


async def _fetch(conn: Conn, query: str | sql.SQL | sql.Composed, params: Any,
                 prepare: bool | None) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params, prepare=prepare)
        return await cur.fetchall()
