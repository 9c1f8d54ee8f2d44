"""Who may receive what, asked of the `channel_members` decision table at delivery time.

Every question is asked once per batch of events (or per signal) for all the users with
sockets on this node, never once per socket: the answer is a set of (channel, user) or
(subject, user) pairs the hub intersects with its sockets.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from psycopg_pool import AsyncConnectionPool

_CHANNEL_MEMBERS = (
    "SELECT channel_id, user_id FROM channel_members"
    " WHERE channel_id = ANY(%s) AND user_id = ANY(%s)"
)
_SHARERS = (
    "SELECT DISTINCT a.user_id, b.user_id FROM channel_members a"
    " JOIN channel_members b ON b.channel_id = a.channel_id"
    " WHERE a.user_id = ANY(%s) AND b.user_id = ANY(%s)"
)
_COMMUNITY_MEMBERS = (
    "SELECT community_id, user_id FROM community_members"
    " WHERE community_id = ANY(%s) AND user_id = ANY(%s)"
)
_IS_MEMBER = "SELECT 1 FROM channel_members WHERE channel_id = %s AND user_id = %s"
_READABLE_AMONG = (
    "SELECT channel_id FROM channel_members WHERE user_id = %s AND channel_id = ANY(%s)"
)


class Audience:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def channel_members(self, channels: Collection[uuid.UUID],
                              users: Collection[uuid.UUID]) -> set[tuple[uuid.UUID, uuid.UUID]]:
        """(channel, user) for every given user who is a member of a given channel now."""
        if not channels or not users:
            return set()
        async with self._pool.connection() as conn:
            cur = await conn.execute(_CHANNEL_MEMBERS, (list(channels), list(users)))
            return {(row[0], row[1]) for row in await cur.fetchall()}

    async def community_members(self, communities: Collection[uuid.UUID],
                                users: Collection[uuid.UUID]
                                ) -> set[tuple[uuid.UUID, uuid.UUID]]:
        if not communities or not users:
            return set()
        async with self._pool.connection() as conn:
            cur = await conn.execute(_COMMUNITY_MEMBERS, (list(communities), list(users)))
            return {(row[0], row[1]) for row in await cur.fetchall()}

    async def sharers(self, subjects: Collection[uuid.UUID],
                      users: Collection[uuid.UUID]) -> set[tuple[uuid.UUID, uuid.UUID]]:
        """(subject, user) for every given user who shares a channel with a subject; a
        subject is always paired with itself."""
        pairs = {(s, s) for s in subjects if s in users}
        if not subjects or not users:
            return pairs
        async with self._pool.connection() as conn:
            cur = await conn.execute(_SHARERS, (list(subjects), list(users)))
            pairs.update((row[0], row[1]) for row in await cur.fetchall())
        return pairs

    async def batch(self, channels: Collection[uuid.UUID], subjects: Collection[uuid.UUID],
                    communities: Collection[uuid.UUID], users: Collection[uuid.UUID]
                    ) -> tuple[set[tuple[uuid.UUID, uuid.UUID]], set[tuple[uuid.UUID, uuid.UUID]],
                               set[tuple[uuid.UUID, uuid.UUID]]]:
        """channel_members, sharers and community_members at once, on one connection
        (the hub asks all three for a batch; under load a pooled connection is the wait)."""
        members: set[tuple[uuid.UUID, uuid.UUID]] = set()
        sharers = {(s, s) for s in subjects if s in users}
        community: set[tuple[uuid.UUID, uuid.UUID]] = set()
        if not users or not (channels or subjects or communities):
            return members, sharers, community
        users = list(users)
        async with self._pool.connection() as conn:
            if channels:
                cur = await conn.execute(_CHANNEL_MEMBERS, (list(channels), users))
                members = {(row[0], row[1]) for row in await cur.fetchall()}
            if subjects:
                cur = await conn.execute(_SHARERS, (list(subjects), users))
                sharers.update((row[0], row[1]) for row in await cur.fetchall())
            if communities:
                cur = await conn.execute(_COMMUNITY_MEMBERS, (list(communities), users))
                community = {(row[0], row[1]) for row in await cur.fetchall()}
        return members, sharers, community

    async def is_member(self, channel_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_IS_MEMBER, (channel_id, user_id))
            return await cur.fetchone() is not None

    async def readable_among(self, user_id: uuid.UUID,
                             channels: Collection[uuid.UUID]) -> set[uuid.UUID]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_READABLE_AMONG, (user_id, list(channels)))
            return {row[0] for row in await cur.fetchall()}



_CO_MEMBERS = (
    "SELECT DISTINCT b.user_id FROM channel_members a"
    " JOIN channel_members b ON b.channel_id = a.channel_id"
    " WHERE a.user_id = %s AND b.user_id <> %s LIMIT %s"
)


async def co_members(pool: AsyncConnectionPool[Any], user_id: uuid.UUID,
                     limit: int = 10_000) -> list[uuid.UUID]:
    """Everyone who shares a channel with the user (presence_bulk's list)."""
    async with pool.connection() as conn:
        cur = await conn.execute(_CO_MEMBERS, (user_id, user_id, limit))
        return [row[0] for row in await cur.fetchall()]
