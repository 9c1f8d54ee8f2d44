"""Membership look-ups on the `channel_members` decision table (migrations/0004).

Commands call these inside their transaction (`lock=True` holds the rows until commit, so
a concurrent removal waits and lands after the command in the log); authorization checks
of queries call them on any connection: membership is the current truth, never a
projection that may lag behind a kick.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import psycopg

Conn = psycopg.AsyncConnection[Any]


async def members_among(conn: Conn, channel_id: uuid.UUID, user_ids: Iterable[uuid.UUID],
                        *, lock: bool = False) -> set[uuid.UUID]:
    """Which of `user_ids` are members of the channel. With `lock`, the rows found are
    locked FOR KEY SHARE until the transaction ends (a removal waits for it)."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return set()
    suffix = " FOR KEY SHARE" if lock else ""
    cur = await conn.execute(
        "SELECT user_id FROM channel_members WHERE channel_id = %s AND user_id = ANY(%s)"
        + suffix, (channel_id, wanted))
    return {row[0] for row in await cur.fetchall()}


async def is_member(conn: Conn, channel_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return user_id in await members_among(conn, channel_id, [user_id])


async def role_of(conn: Conn, channel_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
    cur = await conn.execute(
        "SELECT role FROM channel_members WHERE channel_id = %s AND user_id = %s",
        (channel_id, user_id))
    row = await cur.fetchone()
    return str(row[0]) if row else None
