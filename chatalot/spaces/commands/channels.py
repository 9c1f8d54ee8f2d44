"""Channel settings, membership and moderation: update, join, leave, kick, ban, unban,
role changes, timeouts and warnings. Each holds the community row FOR SHARE (a
community-wide change waits) and the channel row FOR UPDATE, then asks the permissions
module with the access it loaded in the same round trip."""

from __future__ import annotations

import uuid
from datetime import timedelta

from chatalot.command_tx import CommandTx as Tx
from chatalot.contracts import iso
from chatalot.domain.errors import bad_request, conflict, forbidden, not_found
from chatalot.domain.spaces import events as ev
from chatalot.domain.spaces import permissions as perm
from chatalot.domain.spaces import rules
from chatalot.domain.spaces.access import ChannelAccess
from chatalot.domain.spaces.roles import Role
from chatalot.domain.streams import channel_stream
from chatalot.ids import uuid7
from chatalot.request_info import RequestInfo
from chatalot.spaces import contracts as c
from chatalot.spaces.access import load_channel_access, load_community_access, members_among
from chatalot.spaces.runtime import SpacesRuntime
from chatalot.spaces.state import changes_of, rotate, run


async def lock_channel(tx: Tx, channel_id: uuid.UUID, actor: uuid.UUID,
                       community_id: uuid.UUID | None = None) -> ChannelAccess:
    """The actor's access, with the community row FOR SHARE and the channel row FOR
    UPDATE. `community_id` (from the path) must be the channel's (404 otherwise)."""
    peek = await load_channel_access(tx.conn, channel_id, actor)
    if community_id is not None and peek.community_id != community_id:
        raise not_found("no such channel in this community")
    if peek.community_id is not None:
        await load_community_access(tx.conn, peek.community_id, actor, lock="share")
    return await load_channel_access(tx.conn, channel_id, actor, lock_channel=True)


async def update_channel(rt: SpacesRuntime, actor: uuid.UUID, channel_id: uuid.UUID,
                         body: c.UpdateChannel, info: RequestInfo,
                         group_id: uuid.UUID | None = None) -> str:
    """Admins and above (require_manage). Slow mode is 0 or 5 s - 10 min."""
    changes = changes_of(body)
    if "slow_mode_secs" in changes:
        rules.check_slow_mode(changes["slow_mode_secs"])

    async def work(tx: Tx) -> None:
        access = await lock_channel(tx, channel_id, actor)
        if group_id is not None and access.group_id != group_id:
            raise not_found("no such channel in this group")
        if access.kind == "dm":
            raise bad_request("a DM has no settings")
        perm.require_manage(access)
        for column in ("read_only", "archived", "slow_mode_secs", "e2e_required"):
            if column in changes:
                await tx.execute(f"UPDATE spaces_channels SET {column} = %s"
                                 " WHERE channel_id = %s", (changes[column], channel_id))
        tx.append(channel_stream(channel_id), ev.ChannelUpdated(
            channel_id=channel_id, community_id=access.community_id,
            group_id=access.group_id, **changes))

    _, position = await run(rt, info.metadata("update_channel", actor), work)
    return position


async def join(rt: SpacesRuntime, actor: uuid.UUID, channel_id: uuid.UUID,
               info: RequestInfo) -> str:
    """Back into a channel of one's group (after leaving it or a kick); never when
    banned from it or its community."""
    async def work(tx: Tx) -> None:
        access = await lock_channel(tx, channel_id, actor)
        if access.banned:
            raise forbidden("you are banned from this channel")
        if access.member:
            raise conflict("you are already a member of this channel")
        if access.kind == "dm" or access.group_id is None:
            raise forbidden("you cannot join this channel")
        in_group = await tx.fetchone(
            "SELECT 1 AS x FROM group_members WHERE group_id = %s AND user_id = %s",
            (access.group_id, actor))
        if in_group is None:
            raise forbidden("join the channel's group first")
        await tx.execute("INSERT INTO channel_members (channel_id, user_id, role, joined_at)"
                         " VALUES (%s, %s, 'member', %s)", (channel_id, actor, tx.now))
        tx.append(channel_stream(channel_id), ev.ChannelMemberJoined(
            channel_id=channel_id, community_id=access.community_id, user_id=actor,
            role="member"))

    _, position = await run(rt, info.metadata("join_channel", actor), work)
    return position


async def leave(rt: SpacesRuntime, actor: uuid.UUID, channel_id: uuid.UUID,
                info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        access = await lock_channel(tx, channel_id, actor)
        if not access.member:
            raise bad_request("you are not a member of this channel")
        if access.kind == "dm":
            raise bad_request("a DM cannot be left")
        gone = await tx.fetchone("DELETE FROM channel_members WHERE channel_id = %s"
                                 " AND user_id = %s RETURNING role", (channel_id, actor))
        rules.check_leave(gone is not None and gone["role"] == "owner", True, "channel")
        tx.append(channel_stream(channel_id), ev.ChannelMemberLeft(
            channel_id=channel_id, community_id=access.community_id, user_id=actor))
        await rotate(tx, [channel_id], actor)

    _, position = await run(rt, info.metadata("leave_channel", actor), work)
    return position


async def transfer(rt: SpacesRuntime, actor: uuid.UUID, channel_id: uuid.UUID,
                   new_owner: uuid.UUID, info: RequestInfo) -> str:
    """The channel's owner (its 'owner' row) hands it to another member and becomes an
    admin of it; an ownerless channel is given an owner by its managers."""
    async def work(tx: Tx) -> None:
        access = await lock_channel(tx, channel_id, actor)
        if access.kind == "dm":
            raise bad_request("a DM has no owner")
        owner = await tx.fetchone("SELECT user_id FROM channel_members WHERE channel_id = %s"
                                  " AND role = 'owner'", (channel_id,))
        owner_id = owner["user_id"] if owner else None
        target_member = bool(await members_among(tx.conn, channel_id, [new_owner]))
        rules.check_channel_transfer(owner_id, actor, perm.may_manage(access), new_owner,
                                     target_member)
        await tx.execute(
            "UPDATE channel_members SET role = CASE WHEN user_id = %s THEN 'owner'"
            " ELSE 'admin' END WHERE channel_id = %s AND user_id IN (%s, %s)",
            (new_owner, channel_id, new_owner, owner_id))
        tx.append(channel_stream(channel_id), ev.ChannelOwnershipTransferred(
            channel_id=channel_id, community_id=access.community_id,
            group_id=access.group_id, user_id=new_owner, previous_owner_id=owner_id,
            by=actor))

    _, position = await run(rt, info.metadata("transfer_channel", actor), work)
    return position


async def _target(tx: Tx, channel_id: uuid.UUID, actor_access: ChannelAccess,
                  target: uuid.UUID) -> ChannelAccess:
    """The target's access; the actor must moderate it (strictly lower role)."""
    target_access = await load_channel_access(tx.conn, channel_id, target)
    perm.require_moderate(actor_access)
    perm.require_moderates(actor_access.role, target_access.role)
    return target_access


async def kick(rt: SpacesRuntime, actor: uuid.UUID, channel_id: uuid.UUID,
               target: uuid.UUID, body: c.Moderation, info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        access = await lock_channel(tx, channel_id, actor)
        target_access = await _target(tx, channel_id, access, target)
        if not target_access.member:
            raise bad_request("the user is not a member of this channel")
        await tx.execute("DELETE FROM channel_members WHERE channel_id = %s AND user_id = %s",
                         (channel_id, target))
        tx.append(channel_stream(channel_id), ev.ChannelMemberKicked(
            channel_id=channel_id, community_id=access.community_id, user_id=target,
            moderator_id=actor, reason=body.reason))
        await rotate(tx, [channel_id], target)

    _, position = await run(rt, info.metadata("kick_from_channel", actor), work)
    return position


async def ban(rt: SpacesRuntime, actor: uuid.UUID, channel_id: uuid.UUID, target: uuid.UUID,
              body: c.Moderation, info: RequestInfo) -> str:
    """The target loses the channel at once and cannot rejoin until unbanned."""
    async def work(tx: Tx) -> None:
        access = await lock_channel(tx, channel_id, actor)
        target_access = await _target(tx, channel_id, access, target)
        added = await tx.execute("INSERT INTO channel_bans (channel_id, user_id) VALUES"
                                 " (%s, %s) ON CONFLICT DO NOTHING", (channel_id, target))
        if not added:
            raise conflict("the user is already banned from this channel")
        await tx.execute("DELETE FROM channel_members WHERE channel_id = %s AND user_id = %s",
                         (channel_id, target))
        tx.append(channel_stream(channel_id), ev.ChannelMemberBanned(
            channel_id=channel_id, community_id=access.community_id, user_id=target,
            moderator_id=actor, reason=body.reason))
        if target_access.member:
            await rotate(tx, [channel_id], target)

    _, position = await run(rt, info.metadata("ban_from_channel", actor), work)
    return position


async def unban(rt: SpacesRuntime, actor: uuid.UUID, channel_id: uuid.UUID,
                target: uuid.UUID, body: c.Moderation, info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        access = await lock_channel(tx, channel_id, actor)
        perm.require_moderate(access)
        gone = await tx.execute("DELETE FROM channel_bans WHERE channel_id = %s"
                                " AND user_id = %s", (channel_id, target))
        if not gone:
            raise conflict("the user is not banned from this channel")
        tx.append(channel_stream(channel_id), ev.ChannelMemberUnbanned(
            channel_id=channel_id, community_id=access.community_id, user_id=target,
            moderator_id=actor, reason=body.reason))

    _, position = await run(rt, info.metadata("unban_from_channel", actor), work)
    return position


async def set_role(rt: SpacesRuntime, actor: uuid.UUID, channel_id: uuid.UUID,
                   target: uuid.UUID, body: c.SetRole, info: RequestInfo) -> str:
    """A channel role (member, moderator, admin) for a member below the actor's role."""
    new_role = Role.parse(body.role)

    async def work(tx: Tx) -> None:
        access = await lock_channel(tx, channel_id, actor)
        target_access = await load_channel_access(tx.conn, channel_id, target)
        perm.require_assigns(access.role, target_access.role, new_role)
        changed = await tx.execute(
            "UPDATE channel_members SET role = %s WHERE channel_id = %s AND user_id = %s",
            (new_role.label, channel_id, target))
        if not changed:
            raise bad_request("the user is not a member of this channel")
        tx.append(channel_stream(channel_id), ev.ChannelRoleChanged(
            channel_id=channel_id, community_id=access.community_id, user_id=target,
            role=new_role.label, moderator_id=actor, reason=body.reason))

    _, position = await run(rt, info.metadata("set_channel_role", actor), work)
    return position


async def time_out(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
                   channel_id: uuid.UUID, body: c.Timeout, info: RequestInfo) -> str:
    """Mute a member until now + duration; the rule compares with the clock, so the
    timeout ends without a job. A new timeout replaces the old one."""
    async def work(tx: Tx) -> None:
        access = await lock_channel(tx, channel_id, actor, community_id)
        target_access = await _target(tx, channel_id, access, body.user_id)
        if not target_access.member:
            raise bad_request("the user is not a member of this channel")
        until = tx.now + timedelta(seconds=body.duration_secs)
        await tx.execute(
            "INSERT INTO channel_timeouts (channel_id, user_id, until) VALUES (%s, %s, %s)"
            " ON CONFLICT (channel_id, user_id) DO UPDATE SET until = excluded.until",
            (channel_id, body.user_id, until))
        tx.append(channel_stream(channel_id), ev.UserTimedOut(
            channel_id=channel_id, community_id=access.community_id, user_id=body.user_id,
            moderator_id=actor, reason=body.reason, until=iso(until)))

    _, position = await run(rt, info.metadata("time_out", actor), work)
    return position


async def remove_timeout(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
                         channel_id: uuid.UUID, target: uuid.UUID, info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        access = await lock_channel(tx, channel_id, actor, community_id)
        await _target(tx, channel_id, access, target)
        gone = await tx.execute("DELETE FROM channel_timeouts WHERE channel_id = %s"
                                " AND user_id = %s AND until > %s", (channel_id, target, tx.now))
        if not gone:
            raise conflict("the user is not timed out here")
        tx.append(channel_stream(channel_id), ev.TimeoutRemoved(
            channel_id=channel_id, community_id=access.community_id, user_id=target,
            moderator_id=actor))

    _, position = await run(rt, info.metadata("remove_timeout", actor), work)
    return position


async def warn(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
               channel_id: uuid.UUID, body: c.Warn, info: RequestInfo) -> tuple[uuid.UUID, str]:
    async def work(tx: Tx) -> uuid.UUID:
        access = await lock_channel(tx, channel_id, actor, community_id)
        target_access = await _target(tx, channel_id, access, body.user_id)
        if not target_access.member:
            raise bad_request("the user is not a member of this channel")
        warning_id = uuid7()
        tx.append(channel_stream(channel_id), ev.UserWarned(
            channel_id=channel_id, community_id=access.community_id, user_id=body.user_id,
            moderator_id=actor, reason=body.reason, warning_id=warning_id))
        return warning_id

    return await run(rt, info.metadata("warn", actor), work)
