"""Spaces queries. Who may see what is asked of the permissions module with access loaded
from the decision tables (current truth: a ban counts at once); what is shown is read from
the read models (projections/read_models/spaces.py). Pages are keyset pages on a unique
column (user ids, channel ids), so a rebuilt read model pages identically."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from chatalot.accounts.queries import decode_cursor, encode_cursor, page_limit
from chatalot.contracts import iso
from chatalot.domain.errors import not_found
from chatalot.domain.spaces import permissions as perm
from chatalot.domain.spaces.roles import Role
from chatalot.read_rows import projection_lag, read_pipelined, read_rows
from chatalot.spaces import contracts as c
from chatalot.spaces.access import (
    community_access_from_row,
    community_access_query,
    load_channel_access,
    load_community_access,
    load_group_access,
)
from projections.projector import read_model

Pool = AsyncConnectionPool[Any]
Conn = psycopg.AsyncConnection[Any]
T = read_model


def _community(r: dict[str, Any]) -> c.Community:
    return c.Community(
        id=r["community_id"], name=r["name"], description=r["description"],
        owner_id=r["owner_id"], public=r["public"], discoverable=r["discoverable"],
        accent_color=r["accent_color"], welcome_message=r["welcome_message"],
        who_creates_groups=r["who_creates_groups"],
        who_creates_invites=r["who_creates_invites"], member_count=r["member_count"],
        created_at=iso(r["created_at"]))


def _group(r: dict[str, Any]) -> c.Group:
    return c.Group(
        id=r["group_id"], community_id=r["community_id"], name=r["name"],
        description=r["description"], owner_id=r["owner_id"], public=r["public"],
        discoverable=r["discoverable"], accent_color=r["accent_color"],
        member_count=r["member_count"], created_at=iso(r["created_at"]))


def _channel(r: dict[str, Any]) -> c.Channel:
    return c.Channel(
        id=r["channel_id"], kind=r["kind"], name=r["name"], topic=r["topic"],
        community_id=r["community_id"], group_id=r["group_id"], read_only=r["read_only"],
        archived=r["archived"], slow_mode_secs=r["slow_mode_secs"],
        e2e_required=r["e2e_required"], created_at=iso(r["created_at"]))


async def _access(pool: Pool, loader: Any, *args: Any) -> Any:
    async with pool.connection() as conn:
        return await loader(conn, *args)


# -- communities -----------------------------------------------------------------------------


async def my_communities(pool: Pool, user: uuid.UUID) -> list[c.Community]:
    rows = await read_rows(pool, sql.SQL(
        "SELECT c.* FROM {} c JOIN {} m USING (community_id) WHERE m.user_id = %s"
        " ORDER BY c.name, c.community_id").format(
        T("space_communities"), T("space_community_members")), (user,))
    return [_community(r) for r in rows]


async def discover_communities(pool: Pool, cursor: str | None, limit: int | None
                               ) -> tuple[list[c.Community], str | None]:
    size, after = page_limit(limit), decode_cursor(cursor)
    rows = await read_rows(pool, sql.SQL(
        "SELECT * FROM {} WHERE discoverable AND community_id > %s ORDER BY community_id"
        " LIMIT %s").format(T("space_communities")),
        (after or uuid.UUID(int=0), size + 1))
    return _page([_community(r) for r in rows], size, lambda x: x.id)


def _page(items: list[Any], size: int, key: Any) -> tuple[list[Any], str | None]:
    if len(items) <= size:
        return items, None
    items = items[:size]
    return items, encode_cursor(key(items[-1]))


async def community(pool: Pool, user: uuid.UUID, community_id: uuid.UUID) -> c.Community:
    perm.require_community_view(await _access(pool, load_community_access, community_id, user))
    rows = await read_rows(pool, sql.SQL("SELECT * FROM {} WHERE community_id = %s").format(
        T("space_communities")), (community_id,))
    if not rows:
        raise not_found("no such community")
    return _community(rows[0])


# The page is cut first, then joined to the user directory: a join over the whole
# membership lets the planner merge-join the directory from its start.
_MEMBERS = """
SELECT p.user_id, p.role, p.joined_at, p.nickname, u.username, u.display_name
  FROM (SELECT m.user_id, m.role, m.joined_at, {nickname} AS nickname FROM {members} m
         WHERE m.{key} = %s AND m.user_id > %s ORDER BY m.user_id LIMIT %s) p
  LEFT JOIN {users} u ON u.user_id = p.user_id
 ORDER BY p.user_id
"""


def _members_query(table: str, key: str, value: uuid.UUID, nickname: bool,
                   cursor: str | None, limit: int | None
                   ) -> tuple[sql.Composed, tuple[Any, ...], int]:
    size, after = page_limit(limit), decode_cursor(cursor)
    return sql.SQL(_MEMBERS).format(
        nickname=sql.SQL("m.nickname" if nickname else "NULL::text"), members=T(table),
        users=T("users"), key=sql.Identifier(key)), (
        value, after or uuid.UUID(int=0), size + 1), size


async def _members(conn: Conn, table: str, key: str, value: uuid.UUID, nickname: bool,
                   cursor: str | None, limit: int | None) -> c.MemberPage:
    query, params, size = _members_query(table, key, value, nickname, cursor, limit)
    return _member_page(await read_rows(conn, query, params), size)


def _member_page(rows: list[dict[str, Any]], size: int) -> c.MemberPage:
    items = [c.Member(user_id=r["user_id"], username=r["username"],
                      display_name=r["display_name"], nickname=r["nickname"], role=r["role"],
                      joined_at=iso(r["joined_at"])) for r in rows]
    page, next_cursor = _page(items, size, lambda m: m.user_id)
    return c.MemberPage(items=page, next_cursor=next_cursor)


async def community_members(pool: Pool, user: uuid.UUID, community_id: uuid.UUID,
                            cursor: str | None, limit: int | None) -> c.MemberPage:
    """The access check and the page go out together in one pipeline (one round trip);
    the page is returned only if the permissions module allows it."""
    query, params, size = _members_query("space_community_members", "community_id",
                                         community_id, True, cursor, limit)
    check, check_params = community_access_query(community_id, user)
    try:
        async with pool.connection() as conn:
            access, rows = await read_pipelined(conn, (check.encode(), check_params),
                                                (query, params))
    except psycopg.errors.UndefinedTable:
        raise projection_lag() from None
    perm.require_community_view(community_access_from_row(community_id,
                                                          access[0] if access else None))
    return _member_page(rows, size)


async def community_bans(pool: Pool, user: uuid.UUID, community_id: uuid.UUID,
                         cursor: str | None, limit: int | None) -> c.BanPage:
    access = await _access(pool, load_community_access, community_id, user)
    perm.require_community_moderate(access)
    size, after = page_limit(limit), decode_cursor(cursor)
    rows = await read_rows(pool, sql.SQL(
        "SELECT * FROM {} WHERE community_id = %s AND user_id > %s ORDER BY user_id LIMIT %s"
    ).format(T("space_community_bans")), (community_id, after or uuid.UUID(int=0), size + 1))
    items = [c.Ban(user_id=r["user_id"], moderator_id=r["moderator_id"], reason=r["reason"],
                   banned_at=iso(r["banned_at"])) for r in rows]
    page, next_cursor = _page(items, size, lambda b: b.user_id)
    return c.BanPage(items=page, next_cursor=next_cursor)


def _invite(r: dict[str, Any]) -> c.InviteReply:
    return c.InviteReply(id=r["invite_id"], code=r["code"], community_id=r["community_id"],
                         group_id=r["group_id"], max_uses=r["max_uses"], uses=r["uses"],
                         expires_at=iso(r["expires_at"]), created_by=r["created_by"])


async def community_invites(pool: Pool, user: uuid.UUID, community_id: uuid.UUID
                            ) -> list[c.InviteReply]:
    """Moderators see every invite; other members their own."""
    access = await _access(pool, load_community_access, community_id, user)
    perm.require_community_member(access)
    mine_only = access.role is None or access.role < Role.MODERATOR
    rows = await read_rows(pool, sql.SQL(
        "SELECT * FROM {} WHERE community_id = %s AND (NOT %s OR created_by = %s)"
        " ORDER BY invite_id").format(T("space_invites")), (community_id, mine_only, user))
    return [_invite(r) for r in rows]


async def invite_info(pool: Pool, code: str, group: bool) -> c.InviteInfo:
    """What an invite leads to, for anyone signed in who holds the code."""
    rows = await read_rows(pool, sql.SQL(
        "SELECT i.community_id, i.group_id, i.expires_at, i.max_uses, i.uses,"
        " c.name AS community_name, c.member_count, g.name AS group_name"
        " FROM {} i JOIN {} c USING (community_id) LEFT JOIN {} g ON g.group_id = i.group_id"
        " WHERE i.code = %s").format(
        T("space_invites"), T("space_communities"), T("space_groups")), (code,))
    if not rows or (rows[0]["group_id"] is not None) != group:
        raise not_found("no such invite")
    r = rows[0]
    if r["max_uses"] is not None and r["uses"] >= r["max_uses"]:
        raise not_found("this invite has been used up")
    return c.InviteInfo(community_id=r["community_id"], community_name=r["community_name"],
                        group_id=r["group_id"], group_name=r["group_name"],
                        member_count=r["member_count"], expires_at=iso(r["expires_at"]))


async def warnings(pool: Pool, user: uuid.UUID, community_id: uuid.UUID,
                   channel_id: uuid.UUID, target: uuid.UUID, cursor: str | None,
                   limit: int | None) -> c.WarningPage:
    """A member's warnings in the community (count and history): moderators, or the
    member themself."""
    access = await _access(pool, load_channel_access, channel_id, user)
    if access.community_id != community_id:
        raise not_found("no such channel in this community")
    if target != user:
        perm.require_moderate(access)
    size, after = page_limit(limit), decode_cursor(cursor)
    rows = await read_rows(pool, sql.SQL(
        "SELECT *, count(*) OVER () AS total FROM {} WHERE community_id = %s AND user_id = %s"
        " ORDER BY warning_id").format(T("space_warnings")), (community_id, target))
    total = int(rows[0]["total"]) if rows else 0
    rows = [r for r in rows if after is None or r["warning_id"] > after][:size + 1]
    items = [c.Warning(id=r["warning_id"], channel_id=r["channel_id"], user_id=r["user_id"],
                       moderator_id=r["moderator_id"], reason=r["reason"],
                       created_at=iso(r["created_at"])) for r in rows]
    page, next_cursor = _page(items, size, lambda w: w.id)
    return c.WarningPage(items=page, next_cursor=next_cursor, total=total)


# -- groups -----------------------------------------------------------------------------------


async def community_groups(pool: Pool, user: uuid.UUID, community_id: uuid.UUID
                           ) -> list[c.Group]:
    """The groups a member may see: public ones and their own (staff: all)."""
    access = await _access(pool, load_community_access, community_id, user)
    perm.require_community_view(access)
    staff = access.role is not None and access.role >= Role.ADMIN
    rows = await read_rows(pool, sql.SQL(
        "SELECT g.* FROM {} g WHERE g.community_id = %s AND (%s OR g.public OR EXISTS ("
        " SELECT 1 FROM {} m WHERE m.group_id = g.group_id AND m.user_id = %s))"
        " ORDER BY g.name, g.group_id").format(T("space_groups"), T("space_group_members")),
        (community_id, staff, user))
    return [_group(r) for r in rows]


async def my_groups(pool: Pool, user: uuid.UUID) -> list[c.Group]:
    rows = await read_rows(pool, sql.SQL(
        "SELECT g.* FROM {} g JOIN {} m USING (group_id) WHERE m.user_id = %s"
        " ORDER BY g.name, g.group_id").format(T("space_groups"), T("space_group_members")),
        (user,))
    return [_group(r) for r in rows]


async def discover_groups(pool: Pool, user: uuid.UUID, cursor: str | None,
                          limit: int | None) -> c.GroupPage:
    """Discoverable public groups the caller is not in, of their communities and of
    discoverable communities."""
    size, after = page_limit(limit), decode_cursor(cursor)
    rows = await read_rows(pool, sql.SQL(
        "SELECT g.* FROM {g} g JOIN {c} c USING (community_id)"
        " WHERE g.discoverable AND g.public AND g.group_id > %s"
        " AND (c.discoverable OR EXISTS (SELECT 1 FROM {cm} x"
        "      WHERE x.community_id = g.community_id AND x.user_id = %s))"
        " AND NOT EXISTS (SELECT 1 FROM {gm} y WHERE y.group_id = g.group_id"
        "      AND y.user_id = %s)"
        " ORDER BY g.group_id LIMIT %s").format(
        g=T("space_groups"), c=T("space_communities"), cm=T("space_community_members"),
        gm=T("space_group_members")), (after or uuid.UUID(int=0), user, user, size + 1))
    page, next_cursor = _page([_group(r) for r in rows], size, lambda g: g.id)
    return c.GroupPage(items=page, next_cursor=next_cursor)


async def group_invites(pool: Pool, user: uuid.UUID, group_id: uuid.UUID
                        ) -> list[c.InviteReply]:
    perm.require_group_manage(await _access(pool, load_group_access, group_id, user))
    rows = await read_rows(pool, sql.SQL(
        "SELECT * FROM {} WHERE group_id = %s ORDER BY invite_id").format(T("space_invites")),
        (group_id,))
    return [_invite(r) for r in rows]


async def group(pool: Pool, user: uuid.UUID, group_id: uuid.UUID) -> c.Group:
    perm.require_group_view(await _access(pool, load_group_access, group_id, user))
    rows = await read_rows(pool, sql.SQL("SELECT * FROM {} WHERE group_id = %s").format(
        T("space_groups")), (group_id,))
    if not rows:
        raise not_found("no such group")
    return _group(rows[0])


async def group_members(pool: Pool, user: uuid.UUID, group_id: uuid.UUID,
                        cursor: str | None, limit: int | None) -> c.MemberPage:
    async with pool.connection() as conn:
        perm.require_group_view(await load_group_access(conn, group_id, user))
        return await _members(conn, "space_group_members", "group_id", group_id, False,
                              cursor, limit)


async def group_channels(pool: Pool, user: uuid.UUID, group_id: uuid.UUID
                         ) -> list[c.Channel]:
    perm.require_group_view(await _access(pool, load_group_access, group_id, user))
    rows = await read_rows(pool, sql.SQL(
        "SELECT * FROM {} WHERE group_id = %s ORDER BY created_at, channel_id").format(
        T("space_channels")), (group_id,))
    return [_channel(r) for r in rows]


# -- channels and DMs -------------------------------------------------------------------------


async def my_channels(pool: Pool, user: uuid.UUID) -> list[c.Channel]:
    rows = await read_rows(pool, sql.SQL(
        "SELECT ch.* FROM {} ch JOIN {} m USING (channel_id) WHERE m.user_id = %s"
        " AND ch.kind <> 'dm' ORDER BY ch.channel_id").format(
        T("space_channels"), T("space_channel_members")), (user,))
    return [_channel(r) for r in rows]


async def channel(pool: Pool, user: uuid.UUID, channel_id: uuid.UUID) -> c.Channel:
    perm.require_read(await _access(pool, load_channel_access, channel_id, user))
    rows = await read_rows(pool, sql.SQL("SELECT * FROM {} WHERE channel_id = %s").format(
        T("space_channels")), (channel_id,))
    if not rows:
        raise not_found("no such channel")
    return _channel(rows[0])


async def channel_members(pool: Pool, user: uuid.UUID, channel_id: uuid.UUID,
                          cursor: str | None, limit: int | None) -> c.MemberPage:
    async with pool.connection() as conn:
        perm.require_read(await load_channel_access(conn, channel_id, user))
        return await _members(conn, "space_channel_members", "channel_id", channel_id,
                              False, cursor, limit)


async def dms(pool: Pool, user: uuid.UUID, cursor: str | None, limit: int | None
              ) -> c.DmPage:
    size, after = page_limit(limit), decode_cursor(cursor)
    rows = await read_rows(pool, sql.SQL(
        "SELECT ch.*, u.user_id AS other_id, u.username, u.display_name, u.avatar_url"
        " FROM {ch} ch LEFT JOIN {u} u ON u.user_id = CASE WHEN ch.dm_low = %s"
        "   THEN ch.dm_high ELSE ch.dm_low END AND NOT u.deleted"
        " WHERE ch.kind = 'dm' AND (ch.dm_low = %s OR ch.dm_high = %s) AND ch.channel_id > %s"
        " ORDER BY ch.channel_id LIMIT %s").format(ch=T("space_channels"), u=T("users")),
        (user, user, user, after or uuid.UUID(int=0), size + 1))
    items = [c.Dm(channel=_channel(r), other_user=None if r["other_id"] is None else c.DmUser(
        id=r["other_id"], username=r["username"], display_name=r["display_name"],
        avatar_url=r["avatar_url"])) for r in rows]
    page, next_cursor = _page(items, size, lambda d: d.channel.id)
    return c.DmPage(items=page, next_cursor=next_cursor)
