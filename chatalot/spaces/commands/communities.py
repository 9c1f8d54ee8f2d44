"""Community lifecycle and membership: create, update, delete, transfer, join, leave.

Every command that changes who belongs to a community, or with which role, holds the
community row FOR UPDATE (access.load_community_access(lock="update")): they run one after
another per community, so "an owner always exists" and "a banned user is never a member"
hold under any interleaving.
"""

from __future__ import annotations

import uuid

from chatalot.command_tx import CommandTx as Tx
from chatalot.domain.spaces import events as ev
from chatalot.domain.spaces import permissions as perm
from chatalot.domain.spaces import rules
from chatalot.domain.streams import community_stream
from chatalot.ids import uuid7
from chatalot.request_info import RequestInfo
from chatalot.spaces import contracts as c
from chatalot.spaces.access import load_community_access
from chatalot.spaces.runtime import SpacesRuntime
from chatalot.spaces.state import (
    changes_of,
    drop_community,
    hand_over_community,
    join_public_groups,
    leave_community,
    run,
)
from event_store import NO_STREAM


async def create_community(rt: SpacesRuntime, actor: uuid.UUID, body: c.CreateCommunity,
                           info: RequestInfo) -> tuple[uuid.UUID, str]:
    """Any signed-in user may create a community; they become its owner."""
    name = rules.check_name(body.name)
    community_id = uuid7()

    async def work(tx: Tx) -> uuid.UUID:
        await tx.execute(
            "INSERT INTO spaces_communities (community_id, owner_id, public, discoverable)"
            " VALUES (%s, %s, %s, %s)", (community_id, actor, body.public, body.discoverable))
        await tx.execute(
            "INSERT INTO community_members (community_id, user_id, role, joined_at)"
            " VALUES (%s, %s, 'owner', %s)", (community_id, actor, tx.now))
        tx.append(community_stream(community_id), ev.CommunityCreated(
            community_id=community_id, user_id=actor, name=name,
            description=body.description or None, public=body.public,
            discoverable=body.discoverable), ev.CommunityMemberJoined(
            community_id=community_id, user_id=actor, role="owner"), expected=NO_STREAM)
        return community_id

    return await run(rt, info.metadata("create_community", actor), work)


async def update_community(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
                           body: c.UpdateCommunity, info: RequestInfo) -> str:
    """Admins and above; policies (who creates groups and invites) only the owner."""
    changes = changes_of(body)

    async def work(tx: Tx) -> None:
        access = await load_community_access(tx.conn, community_id, actor, lock="update")
        perm.require_community_manage(access)
        if "who_creates_groups" in changes or "who_creates_invites" in changes:
            perm.require_community_owner(access)
        columns = {k: v for k, v in changes.items() if k in (
            "public", "discoverable", "who_creates_groups", "who_creates_invites")}
        for column, value in columns.items():  # column names are the Struct's own fields
            await tx.execute(f"UPDATE spaces_communities SET {column} = %s"
                             " WHERE community_id = %s", (value, community_id))
        tx.append(community_stream(community_id),
                  ev.CommunityUpdated(community_id=community_id, **changes))

    _, position = await run(rt, info.metadata("update_community", actor), work)
    return position


async def delete_community(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
                           info: RequestInfo) -> str:
    """The owner (or instance staff) deletes the community, its groups and channels; every
    membership row goes with them at once."""

    async def work(tx: Tx) -> None:
        access = await load_community_access(tx.conn, community_id, actor, lock="update")
        perm.require_community_owner(access)
        await drop_community(tx, community_id)

    _, position = await run(rt, info.metadata("delete_community", actor), work)
    return position


async def transfer_community(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
                             new_owner: uuid.UUID, info: RequestInfo) -> str:
    """The owner hands the community to another member, and becomes an admin."""

    async def work(tx: Tx) -> None:
        access = await load_community_access(tx.conn, community_id, actor, lock="update")
        target = await load_community_access(tx.conn, community_id, new_owner)
        rules.check_transfer(access.owner_id == actor, target.member, target.banned,
                             actor, new_owner)
        await hand_over_community(tx, community_id, actor, new_owner)

    _, position = await run(rt, info.metadata("transfer_community", actor), work)
    return position


async def add_member(tx: Tx, community_id: uuid.UUID, user_id: uuid.UUID,
                     invite_id: uuid.UUID | None = None) -> None:
    """Insert the membership (the caller checked it may) and auto-join public groups."""
    await tx.execute(
        "INSERT INTO community_members (community_id, user_id, role, joined_at)"
        " VALUES (%s, %s, 'member', %s)", (community_id, user_id, tx.now))
    tx.append(community_stream(community_id), ev.CommunityMemberJoined(
        community_id=community_id, user_id=user_id, role="member", invite_id=invite_id))
    await join_public_groups(tx, community_id, user_id)


async def join_community(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
                         info: RequestInfo) -> str:
    """Joining without an invite: public communities only, never when banned."""

    async def work(tx: Tx) -> None:
        access = await load_community_access(tx.conn, community_id, actor, lock="update")
        perm.require_community_join(access)
        await add_member(tx, community_id, actor)

    _, position = await run(rt, info.metadata("join_community", actor), work)
    return position


async def leave(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
                info: RequestInfo) -> str:
    """Leave the community, its groups and channels (the owner transfers first)."""

    async def work(tx: Tx) -> None:
        access = await load_community_access(tx.conn, community_id, actor, lock="update")
        rules.check_leave(access.owner_id == actor, access.member, "community")
        await leave_community(tx, community_id, actor, ev.CommunityMemberLeft(
            community_id=community_id, user_id=actor))

    _, position = await run(rt, info.metadata("leave_community", actor), work)
    return position
