"""Read models of spaces (issue 10): directories of communities, groups and channels,
memberships with roles, bans, timeouts, warnings and invites. Handled by event name; this
module imports nothing from chatalot.

One projector: a channel's creation makes its group's members its members, and a group's
or community's deletion drops their channels' rows, so the tables are written together.
Membership events name what they change (GroupMemberJoined lists its channels), so a
rebuild from the log reaches the same rows as the live build.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from event_store import RecordedEvent
from projections.projector import ProjectionContext, Projector, on


async def _run(ctx: ProjectionContext, text: str, params: Any = (), **tables: str) -> None:
    await ctx.conn.execute(
        sql.SQL(text).format(**{k: ctx.table(v) for k, v in tables.items()}), params)


def _set(changes: dict[str, Any]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in changes)


def _changes(data: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: (None if getattr(data, f) == "" else getattr(data, f))
            for f in fields if getattr(data, f) is not None}


class Spaces(Projector):
    name = "spaces"
    version = 1
    tables = {
        "space_communities": (
            "community_id uuid PRIMARY KEY, name text NOT NULL, description text,"
            " owner_id uuid NOT NULL, public boolean NOT NULL, discoverable boolean NOT NULL,"
            " accent_color text, welcome_message text,"
            " who_creates_groups text NOT NULL DEFAULT 'admin',"
            " who_creates_invites text NOT NULL DEFAULT 'moderator',"
            " member_count integer NOT NULL DEFAULT 0, created_at timestamptz NOT NULL"),
        "space_community_members": (
            "community_id uuid NOT NULL, user_id uuid NOT NULL, role text NOT NULL,"
            " nickname text, joined_at timestamptz NOT NULL,"
            " PRIMARY KEY (community_id, user_id)"),
        "space_community_bans": (
            "community_id uuid NOT NULL, user_id uuid NOT NULL, moderator_id uuid NOT NULL,"
            " reason text, banned_at timestamptz NOT NULL, PRIMARY KEY (community_id, user_id)"),
        "space_invites": (
            "invite_id uuid PRIMARY KEY, code text NOT NULL, community_id uuid NOT NULL,"
            " group_id uuid, created_by uuid NOT NULL, max_uses integer,"
            " uses integer NOT NULL DEFAULT 0, expires_at timestamptz,"
            " created_at timestamptz NOT NULL"),
        "space_groups": (
            "group_id uuid PRIMARY KEY, community_id uuid NOT NULL, name text NOT NULL,"
            " description text, owner_id uuid NOT NULL, public boolean NOT NULL,"
            " discoverable boolean NOT NULL, accent_color text,"
            " member_count integer NOT NULL DEFAULT 0, created_at timestamptz NOT NULL"),
        "space_group_members": (
            "group_id uuid NOT NULL, user_id uuid NOT NULL, role text NOT NULL,"
            " joined_at timestamptz NOT NULL, PRIMARY KEY (group_id, user_id)"),
        "space_channels": (
            "channel_id uuid PRIMARY KEY, kind text NOT NULL, name text, topic text,"
            " community_id uuid, group_id uuid, read_only boolean NOT NULL DEFAULT false,"
            " archived boolean NOT NULL DEFAULT false,"
            " slow_mode_secs integer NOT NULL DEFAULT 0,"
            " e2e_required boolean NOT NULL DEFAULT false, dm_low uuid, dm_high uuid,"
            " created_at timestamptz NOT NULL"),
        "space_channel_members": (
            "channel_id uuid NOT NULL, user_id uuid NOT NULL, role text NOT NULL,"
            " joined_at timestamptz NOT NULL, PRIMARY KEY (channel_id, user_id)"),
        "space_channel_bans": (
            "channel_id uuid NOT NULL, user_id uuid NOT NULL, moderator_id uuid NOT NULL,"
            " reason text, banned_at timestamptz NOT NULL, PRIMARY KEY (channel_id, user_id)"),
        "space_timeouts": (
            "channel_id uuid NOT NULL, user_id uuid NOT NULL, until timestamptz NOT NULL,"
            " moderator_id uuid NOT NULL, reason text, PRIMARY KEY (channel_id, user_id)"),
        "space_warnings": (
            "warning_id uuid PRIMARY KEY, channel_id uuid NOT NULL, community_id uuid,"
            " user_id uuid NOT NULL, moderator_id uuid NOT NULL, reason text,"
            " created_at timestamptz NOT NULL"),
    }
    indexes = [
        "CREATE INDEX ON {space_community_members} (user_id)",
        "CREATE INDEX ON {space_group_members} (user_id)",
        "CREATE INDEX ON {space_channel_members} (user_id)",
        "CREATE INDEX ON {space_groups} (community_id)",
        "CREATE INDEX ON {space_channels} (group_id)",
        "CREATE INDEX ON {space_invites} (community_id)",
        "CREATE UNIQUE INDEX ON {space_invites} (code)",
        "CREATE INDEX ON {space_warnings} (community_id, user_id, created_at)",
        "CREATE INDEX ON {space_communities} (discoverable, name, community_id)",
    ]

    # -- communities -----------------------------------------------------------------------

    @on("CommunityCreated")
    async def community_created(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "INSERT INTO {t} (community_id, name, description, owner_id, public,"
                   " discoverable, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                   " ON CONFLICT DO NOTHING",
                   (d.community_id, d.name, d.description, d.user_id, d.public,
                    d.discoverable, event.recorded_at), t="space_communities")

    @on("CommunityUpdated")
    async def community_updated(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        changes = _changes(d, ("name", "description", "public", "discoverable",
                               "accent_color", "welcome_message", "who_creates_groups",
                               "who_creates_invites"))
        await ctx.conn.execute(sql.SQL("UPDATE {} SET {} WHERE community_id = %s").format(
            ctx.table("space_communities"), _set(changes)), (*changes.values(), d.community_id))

    @on("CommunityDeleted")
    async def community_deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        cid = d.community_id
        for table in ("space_channel_members", "space_channel_bans", "space_timeouts"):
            await _run(ctx, "DELETE FROM {t} WHERE channel_id = ANY(%s)", (d.channel_ids,),
                       t=table)
        await _run(ctx, "DELETE FROM {t} WHERE group_id = ANY(%s)", (d.group_ids,),
                   t="space_group_members")
        for table in ("space_channels", "space_groups", "space_community_members",
                      "space_community_bans", "space_invites", "space_communities"):
            await _run(ctx, "DELETE FROM {t} WHERE community_id = %s", (cid,), t=table)

    @on("CommunityOwnershipTransferred")
    async def community_transferred(self, event: RecordedEvent, ctx: ProjectionContext
                                    ) -> None:
        d = event.data
        await _run(ctx, "UPDATE {t} SET owner_id = %s WHERE community_id = %s",
                   (d.user_id, d.community_id), t="space_communities")
        await _run(ctx, "UPDATE {t} SET role = CASE WHEN user_id = %s THEN 'owner'"
                   " ELSE 'admin' END WHERE community_id = %s AND user_id IN (%s, %s)",
                   (d.user_id, d.community_id, d.user_id, d.previous_owner_id),
                   t="space_community_members")

    @on("CommunityMemberJoined")
    async def community_joined(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await self._community_count(
            ctx, d.community_id, "+", "INSERT INTO {m} (community_id, user_id, role, joined_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (d.community_id, d.user_id, d.role, event.recorded_at))

    @on("CommunityMemberLeft", "CommunityMemberKicked", "CommunityMemberBanned")
    async def community_left(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await self._community_count(
            ctx, d.community_id, "-", "DELETE FROM {m} WHERE community_id = %s AND user_id = %s",
            (d.community_id, d.user_id))
        if event.type == "CommunityMemberBanned":
            await _run(ctx, "INSERT INTO {t} (community_id, user_id, moderator_id, reason,"
                       " banned_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                       (d.community_id, d.user_id, d.moderator_id, d.reason,
                        event.recorded_at), t="space_community_bans")

    @on("CommunityMemberUnbanned")
    async def community_unbanned(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "DELETE FROM {t} WHERE community_id = %s AND user_id = %s",
                   (d.community_id, d.user_id), t="space_community_bans")

    @on("CommunityRoleChanged")
    async def community_role(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "UPDATE {t} SET role = %s WHERE community_id = %s AND user_id = %s",
                   (d.role, d.community_id, d.user_id), t="space_community_members")

    @on("CommunityNicknameChanged")
    async def nickname(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "UPDATE {t} SET nickname = %s WHERE community_id = %s"
                   " AND user_id = %s", (d.nickname, d.community_id, d.user_id),
                   t="space_community_members")

    @on("CommunityInviteCreated", "GroupInviteCreated")
    async def invite_created(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "INSERT INTO {t} (invite_id, code, community_id, group_id, created_by,"
                   " max_uses, expires_at, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                   " ON CONFLICT DO NOTHING",
                   (d.invite_id, d.code, d.community_id, getattr(d, "group_id", None),
                    d.user_id, d.max_uses, d.expires_at, event.recorded_at), t="space_invites")

    @on("CommunityInviteUsed", "GroupInviteUsed")
    async def invite_used(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "UPDATE {t} SET uses = %s WHERE invite_id = %s",
                   (event.data.uses, event.data.invite_id), t="space_invites")

    @on("CommunityInviteDeleted")
    async def invite_deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "DELETE FROM {t} WHERE invite_id = %s", (event.data.invite_id,),
                   t="space_invites")

    # -- groups ---------------------------------------------------------------------------

    @on("GroupCreated")
    async def group_created(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "INSERT INTO {t} (group_id, community_id, name, description, owner_id,"
                   " public, discoverable, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                   " ON CONFLICT DO NOTHING",
                   (d.group_id, d.community_id, d.name, d.description, d.user_id, d.public,
                    d.discoverable, event.recorded_at), t="space_groups")

    @on("GroupUpdated")
    async def group_updated(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        changes = _changes(d, ("name", "description", "public", "discoverable",
                               "accent_color"))
        await ctx.conn.execute(sql.SQL("UPDATE {} SET {} WHERE group_id = %s").format(
            ctx.table("space_groups"), _set(changes)), (*changes.values(), d.group_id))

    @on("GroupDeleted")
    async def group_deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        for table in ("space_channel_members", "space_channel_bans", "space_timeouts",
                      "space_channels"):
            await _run(ctx, "DELETE FROM {t} WHERE channel_id = ANY(%s)", (d.channel_ids,),
                       t=table)
        for table in ("space_group_members", "space_invites", "space_groups"):
            await _run(ctx, "DELETE FROM {t} WHERE group_id = %s", (d.group_id,), t=table)

    @on("GroupOwnershipTransferred")
    async def group_transferred(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "UPDATE {t} SET owner_id = %s WHERE group_id = %s",
                   (d.user_id, d.group_id), t="space_groups")
        await _run(ctx, "UPDATE {t} SET role = CASE WHEN user_id = %s THEN 'owner'"
                   " ELSE 'member' END WHERE group_id = %s AND user_id IN (%s, %s)",
                   (d.user_id, d.group_id, d.user_id, d.previous_owner_id),
                   t="space_group_members")

    @on("GroupMemberJoined")
    async def group_joined(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await self._group_count(
            ctx, d.group_id, "+", "INSERT INTO {m} (group_id, user_id, role, joined_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (d.group_id, d.user_id, d.role, event.recorded_at))
        await _run(ctx, "INSERT INTO {t} (channel_id, user_id, role, joined_at)"
                   " SELECT unnest(%s::uuid[]), %s, 'member', %s ON CONFLICT DO NOTHING",
                   (d.channel_ids, d.user_id, event.recorded_at), t="space_channel_members")

    @on("GroupMemberLeft")
    async def group_left(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await self._group_count(
            ctx, d.group_id, "-", "DELETE FROM {m} WHERE group_id = %s AND user_id = %s",
            (d.group_id, d.user_id))
        await _run(ctx, "DELETE FROM {t} WHERE channel_id = ANY(%s) AND user_id = %s",
                   (d.channel_ids, d.user_id), t="space_channel_members")

    # -- channels -------------------------------------------------------------------------

    @on("ChannelCreated")
    async def channel_created(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "INSERT INTO {t} (channel_id, kind, name, topic, community_id,"
                   " group_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                   " ON CONFLICT DO NOTHING",
                   (d.channel_id, d.kind, d.name, d.topic, d.community_id, d.group_id,
                    event.recorded_at), t="space_channels")
        await _run(ctx, "INSERT INTO {m} (channel_id, user_id, role, joined_at)"
                   " SELECT %s, user_id, CASE WHEN user_id = %s THEN 'owner' ELSE 'member'"
                   " END, %s FROM {g} WHERE group_id = %s ON CONFLICT DO NOTHING",
                   (d.channel_id, d.owner_id, event.recorded_at, d.group_id),
                   m="space_channel_members", g="space_group_members")

    @on("ChannelOwnershipTransferred")
    async def channel_transferred(self, event: RecordedEvent, ctx: ProjectionContext
                                  ) -> None:
        d = event.data
        await _run(ctx, "UPDATE {t} SET role = CASE WHEN user_id = %s THEN 'owner'"
                   " ELSE 'admin' END WHERE channel_id = %s AND user_id IN (%s, %s)",
                   (d.user_id, d.channel_id, d.user_id, d.previous_owner_id),
                   t="space_channel_members")

    @on("DmChannelCreated")
    async def dm_created(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        low, high = sorted((d.user_id, d.initiator_id), key=lambda u: u.bytes)
        await _run(ctx, "INSERT INTO {t} (channel_id, kind, e2e_required, dm_low, dm_high,"
                   " created_at) VALUES (%s, 'dm', true, %s, %s, %s) ON CONFLICT DO NOTHING",
                   (d.channel_id, low, high, event.recorded_at), t="space_channels")
        await _run(ctx, "INSERT INTO {t} (channel_id, user_id, role, joined_at) VALUES"
                   " (%s, %s, 'member', %s), (%s, %s, 'member', %s) ON CONFLICT DO NOTHING",
                   (d.channel_id, low, event.recorded_at, d.channel_id, high,
                    event.recorded_at), t="space_channel_members")

    @on("ChannelUpdated")
    async def channel_updated(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        changes = _changes(d, ("name", "topic", "read_only", "archived", "slow_mode_secs",
                               "e2e_required"))
        await ctx.conn.execute(sql.SQL("UPDATE {} SET {} WHERE channel_id = %s").format(
            ctx.table("space_channels"), _set(changes)), (*changes.values(), d.channel_id))

    @on("ChannelDeleted")
    async def channel_deleted(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        for table in ("space_channel_members", "space_channel_bans", "space_timeouts",
                      "space_channels"):
            await _run(ctx, "DELETE FROM {t} WHERE channel_id = %s", (event.data.channel_id,),
                       t=table)

    @on("ChannelMemberJoined")
    async def channel_joined(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "INSERT INTO {t} (channel_id, user_id, role, joined_at)"
                   " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                   (d.channel_id, d.user_id, d.role, event.recorded_at),
                   t="space_channel_members")

    @on("ChannelMemberLeft", "ChannelMemberKicked", "ChannelMemberBanned")
    async def channel_left(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "DELETE FROM {t} WHERE channel_id = %s AND user_id = %s",
                   (d.channel_id, d.user_id), t="space_channel_members")
        if event.type == "ChannelMemberBanned":
            await _run(ctx, "INSERT INTO {t} (channel_id, user_id, moderator_id, reason,"
                       " banned_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                       (d.channel_id, d.user_id, d.moderator_id, d.reason,
                        event.recorded_at), t="space_channel_bans")

    @on("ChannelMemberUnbanned")
    async def channel_unbanned(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "DELETE FROM {t} WHERE channel_id = %s AND user_id = %s",
                   (event.data.channel_id, event.data.user_id), t="space_channel_bans")

    @on("ChannelRoleChanged")
    async def channel_role(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "UPDATE {t} SET role = %s WHERE channel_id = %s AND user_id = %s",
                   (d.role, d.channel_id, d.user_id), t="space_channel_members")

    @on("UserTimedOut")
    async def timed_out(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "INSERT INTO {t} (channel_id, user_id, until, moderator_id, reason)"
                   " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (channel_id, user_id) DO UPDATE"
                   " SET until = excluded.until, moderator_id = excluded.moderator_id,"
                   " reason = excluded.reason",
                   (d.channel_id, d.user_id, d.until, d.moderator_id, d.reason),
                   t="space_timeouts")

    @on("TimeoutRemoved")
    async def timeout_removed(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        await _run(ctx, "DELETE FROM {t} WHERE channel_id = %s AND user_id = %s",
                   (event.data.channel_id, event.data.user_id), t="space_timeouts")

    @on("UserWarned")
    async def warned(self, event: RecordedEvent, ctx: ProjectionContext) -> None:
        d = event.data
        await _run(ctx, "INSERT INTO {t} (warning_id, channel_id, community_id, user_id,"
                   " moderator_id, reason, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                   " ON CONFLICT DO NOTHING",
                   (d.warning_id, d.channel_id, d.community_id, d.user_id, d.moderator_id,
                    d.reason, event.recorded_at), t="space_warnings")

    # -- counts ---------------------------------------------------------------------------

    @staticmethod
    async def _community_count(ctx: ProjectionContext, community_id: Any, delta: str,
                               change: str, params: Any) -> None:
        """Run the membership insert/delete `change` and move the count by its rows."""
        await _run(ctx, "WITH c AS (" + change + " RETURNING 1) UPDATE {t} SET member_count"
                   " = member_count " + delta + " (SELECT count(*) FROM c)"
                   " WHERE community_id = %s", (*params, community_id),
                   t="space_communities", m="space_community_members")

    @staticmethod
    async def _group_count(ctx: ProjectionContext, group_id: Any, delta: str, change: str,
                           params: Any) -> None:
        await _run(ctx, "WITH c AS (" + change + " RETURNING 1) UPDATE {t} SET member_count"
                   " = member_count " + delta + " (SELECT count(*) FROM c)"
                   " WHERE group_id = %s", (*params, group_id),
                   t="space_groups", m="space_group_members")


PROJECTORS: list[type[Projector]] = [Spaces]
