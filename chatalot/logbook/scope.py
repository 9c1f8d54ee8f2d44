"""The caller's part of the log: their community roles from the spaces decision table
(community_members), judged by chatalot/domain/logbook/rules.py."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from chatalot.auth.principal import Principal
from chatalot.domain.logbook.rules import LogScope, decide_log_scope
from chatalot.domain.spaces.roles import Role


async def scope_of(pool: AsyncConnectionPool[Any], principal: Principal) -> LogScope:
    if principal.is_staff:
        return decide_log_scope(True, {})
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT community_id, role FROM community_members WHERE user_id = %s",
            (principal.user_id,))
        roles = {row[0]: Role.parse(row[1]) for row in await cur.fetchall()}
    return decide_log_scope(False, roles)
