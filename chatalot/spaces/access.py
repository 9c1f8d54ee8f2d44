"""Who the caller is in a channel, group or community: one indexed query over the decision
tables (migrations/0004, 0008), on the caller's connection, inside the command's own
transaction. Never a projection: a kick or ban counts from the moment it commits.

The permission rules that judge these records are chatalot/domain/spaces/permissions.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import msgspec
import psycopg
from psycopg.rows import dict_row

from chatalot.domain.errors import not_found
from chatalot.domain.spaces.access import ChannelAccess, CommunityAccess, GroupAccess
from chatalot.domain.spaces.roles import Role, highest, instance_role

Conn = psycopg.AsyncConnection[Any]

_CHANNEL = """
WITH m AS (SELECT role FROM channel_members
            WHERE channel_id = %(c)s AND user_id = %(u)s {member_lock})
SELECT ch.kind, ch.community_id, ch.group_id, ch.read_only, ch.archived, ch.slow_mode_secs,
       ch.e2e_required,
       (SELECT role FROM m) AS channel_role,
       (SELECT role FROM community_members
         WHERE community_id = ch.community_id AND user_id = %(u)s) AS community_role,
       (SELECT role FROM group_members
         WHERE group_id = ch.group_id AND user_id = %(u)s) AS group_role,
       coalesce((SELECT is_admin FROM account_users WHERE user_id = %(u)s), false) AS is_admin,
       coalesce((SELECT is_owner FROM account_users WHERE user_id = %(u)s), false) AS is_owner,
       (EXISTS (SELECT 1 FROM channel_bans WHERE channel_id = ch.channel_id
                  AND user_id = %(u)s)
        OR EXISTS (SELECT 1 FROM community_bans WHERE community_id = ch.community_id
                     AND user_id = %(u)s)) AS banned,
       (SELECT until FROM channel_timeouts
         WHERE channel_id = ch.channel_id AND user_id = %(u)s) AS timed_out_until
  FROM spaces_channels ch
 WHERE ch.channel_id = %(c)s {channel_lock}
"""


def _role(label: str | None) -> Role | None:
    return Role.parse(label) if label else None


async def _one(conn: Conn, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query.encode(), params)
        row: dict[str, Any] | None = await cur.fetchone()
        return row


async def load_channel_access(conn: Conn, channel_id: uuid.UUID, user_id: uuid.UUID, *,
                              lock: bool = False, lock_channel: bool = False
                              ) -> ChannelAccess:
    """The caller in the channel. 404 not_found for an unknown or deleted channel. With
    `lock`, the caller's channel_members row is held FOR KEY SHARE until the transaction
    ends (a concurrent kick or ban waits, and lands after the command in the log); with
    `lock_channel` the channel row is held FOR UPDATE (spaces' own channel commands)."""
    query = _CHANNEL.format(member_lock="FOR KEY SHARE" if lock else "",
                            channel_lock="FOR UPDATE OF ch" if lock_channel else "")
    row = await _one(conn, query, {"c": channel_id, "u": user_id})
    if row is None:
        raise not_found("no such channel")
    return channel_access_from_row(channel_id, row)


def channel_access_query(channel_id: uuid.UUID, user_id: uuid.UUID) -> tuple[bytes,
                                                                          dict[str, Any]]:
    """The statement load_channel_access sends (no locks), for a query that pipelines it
    with its own read: one round trip for both, the answer withheld until it passes."""
    return _CHANNEL.format(member_lock="", channel_lock="").encode(), {"c": channel_id,
                                                                     "u": user_id}


def channel_access_lateral(channel: str) -> str:
    """The statement load_channel_access sends (no locks), for the channel that `channel`
    names: a column of a row the caller's own statement joins it to LATERAL (the user is
    still the parameter `%(u)s`). A read that only finds the channel in the database then
    checks access in the same statement: one round trip, no second query."""
    return _CHANNEL.format(member_lock="", channel_lock="").replace("%(c)s", channel)


_CHANNELS = ("SELECT k.i, a.* FROM (SELECT (p->>0)::uuid AS c, (p->>1)::uuid AS u, i"
             " FROM json_array_elements(%(pairs)s::json) WITH ORDINALITY AS j(p, i)) k"
             " CROSS JOIN LATERAL (" + _CHANNEL.replace("%(c)s", "k.c").replace("%(u)s", "k.u")
             + ") AS a")


async def load_channel_accesses(conn: Conn, pairs: list[tuple[uuid.UUID, uuid.UUID]]
                                ) -> list[ChannelAccess | None]:
    """`load_channel_access(..., lock=True)` of several (channel, user) pairs in one
    statement (a group of sends, chatalot/command_group.py); None for an unknown channel.
    The member rows are held FOR KEY SHARE as one by one."""
    query = _CHANNELS.format(member_lock="FOR KEY SHARE", channel_lock="")
    async with conn.cursor(row_factory=dict_row) as cur:
        # one JSON array, not two uuid[] (chatalot/command_tx.py's Rows says why)
        await cur.execute(query.encode(), {"pairs": msgspec.json.encode(pairs).decode()})
        rows = {int(r["i"]): r for r in await cur.fetchall()}
    return [channel_access_from_row(c, rows[i]) if i in rows else None
            for i, (c, _) in enumerate(pairs, start=1)]


def channel_access_from_row(channel_id: uuid.UUID, row: dict[str, Any]) -> ChannelAccess:
    banned = bool(row["banned"])
    member = row["channel_role"] is not None and not banned
    staff = instance_role(row["is_admin"], row["is_owner"])
    role = highest(staff, _role(row["community_role"]), _role(row["group_role"]),
                   _role(row["channel_role"])) if member else staff
    return ChannelAccess(
        channel_id=channel_id, kind=row["kind"], community_id=row["community_id"],
        group_id=row["group_id"], member=member, role=role, banned=banned,
        timed_out_until=row["timed_out_until"], read_only=row["read_only"],
        archived=row["archived"], slow_mode_secs=row["slow_mode_secs"],
        e2e_required=row["e2e_required"] or row["kind"] == "dm")


_COMMUNITY = """
SELECT c.owner_id, c.public, c.discoverable, c.who_creates_groups, c.who_creates_invites,
       c.group_count,
       (SELECT role FROM community_members
         WHERE community_id = c.community_id AND user_id = %(u)s) AS community_role,
       coalesce((SELECT is_admin FROM account_users WHERE user_id = %(u)s), false) AS is_admin,
       coalesce((SELECT is_owner FROM account_users WHERE user_id = %(u)s), false) AS is_owner,
       EXISTS (SELECT 1 FROM community_bans
                WHERE community_id = c.community_id AND user_id = %(u)s) AS banned
  FROM spaces_communities c
 WHERE c.community_id = %(c)s {lock}
"""

COMMUNITY_LOCKS = {None: "", "share": "FOR SHARE OF c", "update": "FOR UPDATE OF c"}


async def load_community_access(conn: Conn, community_id: uuid.UUID, user_id: uuid.UUID,
                                *, lock: str | None = None) -> CommunityAccess:
    """The caller in the community; 404 for an unknown one. `lock="update"` holds the
    community row FOR UPDATE: every command that changes who belongs to the community or
    with which role takes it, so they run one after another per community; channel-level
    commands take `"share"` (they run together, but never beside a community change)."""
    row = await _one(conn, *community_access_query(community_id, user_id, lock))
    return community_access_from_row(community_id, row)


def community_access_query(community_id: uuid.UUID, user_id: uuid.UUID,
                           lock: str | None = None) -> tuple[str, dict[str, Any]]:
    """The statement load_community_access sends, for a caller that pipelines it with
    its own read (one round trip for both)."""
    return _COMMUNITY.format(lock=COMMUNITY_LOCKS[lock]), {"c": community_id, "u": user_id}


def community_access_from_row(community_id: uuid.UUID, row: dict[str, Any] | None
                              ) -> CommunityAccess:
    if row is None:
        raise not_found("no such community")
    staff = instance_role(row["is_admin"], row["is_owner"])
    return CommunityAccess(
        community_id=community_id, owner_id=row["owner_id"],
        member=row["community_role"] is not None,
        role=highest(staff, _role(row["community_role"])), banned=bool(row["banned"]),
        public=row["public"], discoverable=row["discoverable"],
        who_creates_groups=Role.parse(row["who_creates_groups"]),
        who_creates_invites=Role.parse(row["who_creates_invites"]),
        group_count=row["group_count"])


_GROUP = """
SELECT g.community_id, g.owner_id, g.public, g.discoverable, g.channel_count,
       (SELECT role FROM group_members
         WHERE group_id = g.group_id AND user_id = %(u)s) AS group_role,
       (SELECT role FROM community_members
         WHERE community_id = g.community_id AND user_id = %(u)s) AS community_role,
       coalesce((SELECT is_admin FROM account_users WHERE user_id = %(u)s), false) AS is_admin,
       coalesce((SELECT is_owner FROM account_users WHERE user_id = %(u)s), false) AS is_owner,
       EXISTS (SELECT 1 FROM community_bans
                WHERE community_id = g.community_id AND user_id = %(u)s) AS banned
  FROM spaces_groups g
 WHERE g.group_id = %(g)s {lock}
"""


async def load_group_access(conn: Conn, group_id: uuid.UUID, user_id: uuid.UUID, *,
                            lock: bool = False) -> GroupAccess:
    """The caller in the group; 404 for an unknown one. `lock` holds the group row FOR
    UPDATE (its channel count, members and settings change one command at a time)."""
    row = await _one(conn, _GROUP.format(lock="FOR UPDATE OF g" if lock else ""),
                     {"g": group_id, "u": user_id})
    if row is None:
        raise not_found("no such group")
    staff = instance_role(row["is_admin"], row["is_owner"])
    member = row["group_role"] is not None
    return GroupAccess(
        group_id=group_id, community_id=row["community_id"], owner_id=row["owner_id"],
        member=member, community_member=row["community_role"] is not None,
        role=highest(staff, _role(row["community_role"]), _role(row["group_role"])),
        banned=bool(row["banned"]), public=row["public"], discoverable=row["discoverable"],
        channel_count=row["channel_count"])


# Every channel the user `%(user)s` may read right now (bans delete the membership row);
# also a subquery of the reads that answer for all of them in one statement.
READABLE_CHANNELS = "SELECT channel_id FROM channel_members WHERE user_id = %(user)s"


async def readable_channels(conn: Conn, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Every channel the user may read right now (READABLE_CHANNELS)."""
    cur = await conn.execute(READABLE_CHANNELS + " ORDER BY channel_id", {"user": user_id})
    return [row[0] for row in await cur.fetchall()]


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


_CONTACT = """
SELECT coalesce((SELECT is_admin OR is_owner FROM account_users WHERE user_id = %(a)s),
                false)
    OR EXISTS (SELECT 1 FROM community_members x JOIN community_members y
                  ON y.community_id = x.community_id AND y.user_id = %(o)s
                WHERE x.user_id = %(a)s)
    OR EXISTS (SELECT 1 FROM spaces_channels WHERE kind = 'dm'
                AND dm_low = %(low)s AND dm_high = %(high)s) AS may
"""


async def may_contact(conn: Conn, caller: uuid.UUID, other: uuid.UUID) -> bool:
    """Whether `caller` may open a DM with `other` (the rule of POST /dms and GET
    /users/{id}: instance staff, or a shared community), or already has one with them.
    Blocks are the caller's own check (each context reads account_blocks its way)."""
    if caller == other:
        return True
    low, high = (caller, other) if caller.bytes < other.bytes else (other, caller)
    row = await _one(conn, _CONTACT, {"a": caller, "o": other, "low": low, "high": high})
    return bool(row and row["may"])
