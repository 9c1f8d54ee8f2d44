"""Groups and their channels: create, update, delete, transfer, join, leave.

Lock order, everywhere in spaces: community row, then group row, then channel row. A group
command holds its community row FOR SHARE (a community-wide change waits for it) and its
group row FOR UPDATE (its channel count and members change one command at a time).
"""

from __future__ import annotations

import uuid

from chatalot.command_tx import CommandTx as Tx
from chatalot.domain.errors import not_found
from chatalot.domain.spaces import events as ev
from chatalot.domain.spaces import permissions as perm
from chatalot.domain.spaces import rules
from chatalot.domain.spaces.access import GroupAccess
from chatalot.domain.streams import channel_stream, group_stream
from chatalot.ids import uuid7
from chatalot.request_info import RequestInfo
from chatalot.spaces import contracts as c
from chatalot.spaces.access import load_community_access, load_group_access
from chatalot.spaces.runtime import SpacesRuntime
from chatalot.spaces.state import changes_of, hand_over_group, join_group, leave_group, run
from event_store import NO_STREAM


async def _lock_group(tx: Tx, group_id: uuid.UUID, actor: uuid.UUID, *,
                      community_lock: str = "share") -> GroupAccess:
    """Community row (FOR SHARE) then group row (FOR UPDATE); 404 for an unknown group."""
    peek = await load_group_access(tx.conn, group_id, actor)
    await load_community_access(tx.conn, peek.community_id, actor, lock=community_lock)
    return await load_group_access(tx.conn, group_id, actor, lock=True)


async def create_group(rt: SpacesRuntime, actor: uuid.UUID, body: c.CreateGroup,
                       info: RequestInfo) -> tuple[uuid.UUID, str]:
    """Members whose role the community's policy allows (admins by default); the creator
    owns the group. At most 200 groups per community (422 limit_reached)."""
    name = rules.check_name(body.name)
    group_id = uuid7()

    async def work(tx: Tx) -> uuid.UUID:
        access = await load_community_access(tx.conn, body.community_id, actor,
                                             lock="update")
        perm.require_create_groups(access)
        rules.check_group_capacity(access.group_count)
        await tx.execute(
            "INSERT INTO spaces_groups (group_id, community_id, owner_id, public,"
            " discoverable) VALUES (%s, %s, %s, %s, %s)",
            (group_id, body.community_id, actor, body.public, body.discoverable))
        await tx.execute("UPDATE spaces_communities SET group_count = group_count + 1"
                         " WHERE community_id = %s", (body.community_id,))
        tx.append(group_stream(group_id), ev.GroupCreated(
            group_id=group_id, community_id=body.community_id, user_id=actor, name=name,
            description=body.description or None, public=body.public,
            discoverable=body.discoverable), expected=NO_STREAM)
        if access.member:
            await join_group(tx, body.community_id, group_id, actor, role="owner")
        if body.public:  # every community member is in a public group
            rows = await tx.fetchall(
                "SELECT user_id FROM community_members WHERE community_id = %s"
                " AND user_id <> %s ORDER BY user_id", (body.community_id, actor))
            for row in rows:
                await join_group(tx, body.community_id, group_id, row["user_id"])
        return group_id

    return await run(rt, info.metadata("create_group", actor), work)


async def update_group(rt: SpacesRuntime, actor: uuid.UUID, group_id: uuid.UUID,
                       body: c.UpdateGroup, info: RequestInfo) -> str:
    changes = changes_of(body)

    async def work(tx: Tx) -> None:
        access = await _lock_group(tx, group_id, actor)
        perm.require_group_manage(access)
        for column in ("public", "discoverable"):
            if column in changes:
                await tx.execute(f"UPDATE spaces_groups SET {column} = %s"
                                 " WHERE group_id = %s", (changes[column], group_id))
        tx.append(group_stream(group_id), ev.GroupUpdated(
            group_id=group_id, community_id=access.community_id, **changes))

    _, position = await run(rt, info.metadata("update_group", actor), work)
    return position


async def delete_group(rt: SpacesRuntime, actor: uuid.UUID, group_id: uuid.UUID,
                       info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        access = await _lock_group(tx, group_id, actor, community_lock="update")
        perm.require_group_owner(access)
        rows = await tx.fetchall(
            "DELETE FROM spaces_channels WHERE group_id = %s RETURNING channel_id", (group_id,))
        channel_ids = sorted(r["channel_id"] for r in rows)
        await tx.execute("DELETE FROM channel_members WHERE channel_id = ANY(%s)",
                         (channel_ids,))
        await tx.execute("DELETE FROM spaces_groups WHERE group_id = %s", (group_id,))
        await tx.execute("UPDATE spaces_communities SET group_count = group_count - 1"
                         " WHERE community_id = %s", (access.community_id,))
        tx.append(group_stream(group_id), ev.GroupDeleted(
            group_id=group_id, community_id=access.community_id, channel_ids=channel_ids))

    _, position = await run(rt, info.metadata("delete_group", actor), work)
    return position


async def transfer_group(rt: SpacesRuntime, actor: uuid.UUID, group_id: uuid.UUID,
                         new_owner: uuid.UUID, info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        access = await _lock_group(tx, group_id, actor)
        target = await load_group_access(tx.conn, group_id, new_owner)
        rules.check_transfer(access.owner_id == actor, target.member, target.banned,
                             actor, new_owner)
        await hand_over_group(tx, access.community_id, group_id, actor, new_owner)

    _, position = await run(rt, info.metadata("transfer_group", actor), work)
    return position


async def join(rt: SpacesRuntime, actor: uuid.UUID, group_id: uuid.UUID,
               info: RequestInfo) -> str:
    """A community member joins a public group (and its channels)."""
    async def work(tx: Tx) -> None:
        access = await _lock_group(tx, group_id, actor)
        perm.require_group_join(access)
        await join_group(tx, access.community_id, group_id, actor)

    _, position = await run(rt, info.metadata("join_group", actor), work)
    return position


async def leave(rt: SpacesRuntime, actor: uuid.UUID, group_id: uuid.UUID,
                info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        access = await _lock_group(tx, group_id, actor)
        rules.check_leave(access.owner_id == actor, access.member, "group")
        await leave_group(tx, access.community_id, group_id, actor)

    _, position = await run(rt, info.metadata("leave_group", actor), work)
    return position


# -- channels of a group -------------------------------------------------------------------


async def create_channel(rt: SpacesRuntime, actor: uuid.UUID, group_id: uuid.UUID,
                         body: c.CreateChannel, info: RequestInfo) -> tuple[uuid.UUID, str]:
    """The group's owner, community admins and staff; every group member is in it. At
    most 100 channels per group (422 limit_reached)."""
    name = rules.check_name(body.name)
    channel_id = uuid7()

    async def work(tx: Tx) -> uuid.UUID:
        access = await _lock_group(tx, group_id, actor)
        perm.require_group_manage(access)
        rules.check_channel_capacity(access.channel_count)
        await tx.execute(
            "INSERT INTO spaces_channels (channel_id, kind, community_id, group_id)"
            " VALUES (%s, %s, %s, %s)", (channel_id, body.kind, access.community_id, group_id))
        await tx.execute("UPDATE spaces_groups SET channel_count = channel_count + 1"
                         " WHERE group_id = %s", (group_id,))
        # the creator owns the channel when a member of its group (docs/spaces.md)
        await tx.execute(
            "INSERT INTO channel_members (channel_id, user_id, role, joined_at)"
            " SELECT %s, user_id, CASE WHEN user_id = %s THEN 'owner' ELSE 'member' END, %s"
            " FROM group_members WHERE group_id = %s", (channel_id, actor, tx.now, group_id))
        tx.append(channel_stream(channel_id), ev.ChannelCreated(
            channel_id=channel_id, community_id=access.community_id, group_id=group_id,
            kind=body.kind, name=name, topic=body.topic or None, user_id=actor,
            owner_id=actor if access.member else None), expected=NO_STREAM)
        return channel_id

    return await run(rt, info.metadata("create_channel", actor), work)


async def delete_channel(rt: SpacesRuntime, actor: uuid.UUID, group_id: uuid.UUID,
                         channel_id: uuid.UUID, info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        access = await _lock_group(tx, group_id, actor)
        perm.require_group_manage(access)
        gone = await tx.execute(
            "DELETE FROM spaces_channels WHERE channel_id = %s AND group_id = %s",
            (channel_id, group_id))
        if not gone:
            raise not_found("no such channel in this group")
        await tx.execute("DELETE FROM channel_members WHERE channel_id = %s", (channel_id,))
        await tx.execute("UPDATE spaces_groups SET channel_count = channel_count - 1"
                         " WHERE group_id = %s", (group_id,))
        tx.append(channel_stream(channel_id), ev.ChannelDeleted(
            channel_id=channel_id, community_id=access.community_id, group_id=group_id))

    _, position = await run(rt, info.metadata("delete_channel", actor), work)
    return position

