"""Decision-table writes shared by the spaces commands: who joins or leaves which channels,
with the events that say so, in the caller's transaction. No decisions here (the rules
and permissions are in chatalot/domain/spaces/)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import msgspec

from chatalot.command_tx import CommandTx as Tx
from chatalot.command_tx import run_command
from chatalot.domain.errors import bad_request
from chatalot.domain.spaces import events as ev
from chatalot.domain.spaces import rules
from chatalot.domain.streams import channel_stream, community_stream, group_stream
from chatalot.spaces.runtime import SpacesRuntime
from event_store import Metadata

T = TypeVar("T")


async def run(rt: SpacesRuntime, meta: Metadata, work: Callable[[Tx], Awaitable[T]]
              ) -> tuple[T, str]:
    return await run_command(rt.store, meta, rt.now, work)


def changes_of(body: msgspec.Struct) -> dict[str, Any]:
    """The fields an update sets (a name checked and trimmed); 400 when it sets none."""
    changes = {f: getattr(body, f) for f in body.__struct_fields__
               if getattr(body, f) is not None}
    if not changes:
        raise bad_request("nothing to change")
    if "name" in changes:
        changes["name"] = rules.check_name(changes["name"])
    return changes


async def group_channels(tx: Tx, group_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await tx.fetchall(
        "SELECT channel_id FROM spaces_channels WHERE group_id = %s ORDER BY channel_id",
        (group_id,))
    return [r["channel_id"] for r in rows]


async def join_group(tx: Tx, community_id: uuid.UUID, group_id: uuid.UUID,
                     user_id: uuid.UUID, *, role: str = "member",
                     invite_id: uuid.UUID | None = None) -> bool:
    """Add the user to the group and to each of its channels that has not banned them;
    False when they were a member already."""
    added = await tx.execute(
        "INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES (%s, %s, %s,"
        " %s) ON CONFLICT DO NOTHING", (group_id, user_id, role, tx.now))
    if not added:
        return False
    rows = await tx.fetchall(
        "INSERT INTO channel_members (channel_id, user_id, role, joined_at)"
        " SELECT ch.channel_id, %s, 'member', %s FROM spaces_channels ch"
        " WHERE ch.group_id = %s AND NOT EXISTS (SELECT 1 FROM channel_bans b"
        "  WHERE b.channel_id = ch.channel_id AND b.user_id = %s)"
        " ON CONFLICT DO NOTHING RETURNING channel_id", (user_id, tx.now, group_id, user_id))
    tx.append(group_stream(group_id), ev.GroupMemberJoined(
        group_id=group_id, community_id=community_id, user_id=user_id, role=role,
        channel_ids=sorted(r["channel_id"] for r in rows), invite_id=invite_id))
    return True


async def join_public_groups(tx: Tx, community_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """A new community member joins every public group (upstream's auto-join)."""
    rows = await tx.fetchall(
        "SELECT group_id FROM spaces_groups WHERE community_id = %s AND public"
        " ORDER BY group_id", (community_id,))
    for row in rows:
        await join_group(tx, community_id, row["group_id"], user_id)


async def rotate(tx: Tx, channel_ids: Sequence[uuid.UUID], user_id: uuid.UUID) -> None:
    """The user no longer reads these channels: every remaining member must rotate."""
    for channel_id in channel_ids:
        tx.append(channel_stream(channel_id), ev.SenderKeyRotationRequired(
            channel_id=channel_id, user_id=user_id))


async def leave_group(tx: Tx, community_id: uuid.UUID, group_id: uuid.UUID,
                      user_id: uuid.UUID) -> None:
    """Remove the user from the group and its channels (rotations included)."""
    left = await tx.execute(
        "DELETE FROM group_members WHERE group_id = %s AND user_id = %s", (group_id, user_id))
    rows = await tx.fetchall(
        "DELETE FROM channel_members m USING spaces_channels ch"
        " WHERE m.channel_id = ch.channel_id AND ch.group_id = %s AND m.user_id = %s"
        " RETURNING m.channel_id", (group_id, user_id))
    channel_ids = sorted(r["channel_id"] for r in rows)
    if left or channel_ids:
        tx.append(group_stream(group_id), ev.GroupMemberLeft(
            group_id=group_id, community_id=community_id, user_id=user_id,
            channel_ids=channel_ids))
    await rotate(tx, channel_ids, user_id)


# The heir of an owner who goes away: the highest-ranked remaining member, the longest
# there first (docs/spaces.md, "A deleted account").
_HEIR = """
SELECT user_id FROM {table} WHERE {key} = %s AND user_id <> %s
 ORDER BY CASE role WHEN 'admin' THEN 3 WHEN 'moderator' THEN 2 ELSE 1 END DESC,
          joined_at, user_id
 LIMIT 1
"""


async def hand_over_community(tx: Tx, community_id: uuid.UUID, owner: uuid.UUID,
                              heir: uuid.UUID, *, reason: str | None = None) -> None:
    """`heir` owns the community from now on; the previous owner becomes an admin."""
    await tx.execute("UPDATE spaces_communities SET owner_id = %s WHERE community_id = %s",
                     (heir, community_id))
    await tx.execute(
        "UPDATE community_members SET role = CASE WHEN user_id = %s THEN 'owner'"
        " ELSE 'admin' END WHERE community_id = %s AND user_id IN (%s, %s)",
        (heir, community_id, heir, owner))
    tx.append(community_stream(community_id), ev.CommunityOwnershipTransferred(
        community_id=community_id, user_id=heir, previous_owner_id=owner, reason=reason))


async def hand_over_group(tx: Tx, community_id: uuid.UUID, group_id: uuid.UUID,
                          owner: uuid.UUID, heir: uuid.UUID, *,
                          reason: str | None = None) -> None:
    """`heir` owns the group from now on; the previous owner becomes a member."""
    await tx.execute("UPDATE spaces_groups SET owner_id = %s WHERE group_id = %s",
                     (heir, group_id))
    await tx.execute(
        "UPDATE group_members SET role = CASE WHEN user_id = %s THEN 'owner'"
        " ELSE 'member' END WHERE group_id = %s AND user_id IN (%s, %s)",
        (heir, group_id, heir, owner))
    tx.append(group_stream(group_id), ev.GroupOwnershipTransferred(
        group_id=group_id, community_id=community_id, user_id=heir,
        previous_owner_id=owner, reason=reason))


async def drop_community(tx: Tx, community_id: uuid.UUID) -> None:
    """Delete the community, its groups and channels and every membership row at once."""
    groups = await tx.fetchall(
        "SELECT group_id FROM spaces_groups WHERE community_id = %s ORDER BY group_id",
        (community_id,))
    channels = await tx.fetchall(
        "DELETE FROM spaces_channels WHERE community_id = %s RETURNING channel_id",
        (community_id,))
    channel_ids = sorted(r["channel_id"] for r in channels)
    await tx.execute("DELETE FROM channel_members WHERE channel_id = ANY(%s)", (channel_ids,))
    await tx.execute("DELETE FROM spaces_communities WHERE community_id = %s", (community_id,))
    tx.append(community_stream(community_id), ev.CommunityDeleted(
        community_id=community_id, group_ids=[r["group_id"] for r in groups],
        channel_ids=channel_ids))


async def forget_member(tx: Tx, user_id: uuid.UUID) -> None:
    """A deleted account leaves every community (with its groups and channels, rotations
    included), inside the deletion's transaction. What it owned passes first to its heir
    (_HEIR): a community to the highest-ranked remaining member, a group to the
    highest-ranked remaining group member (else the community's owner); a community with
    no other member is deleted. Its DMs stay, for the other side."""
    rows = await tx.fetchall(
        "SELECT c.community_id, c.owner_id = %s AS owned FROM spaces_communities c"
        " JOIN community_members m USING (community_id) WHERE m.user_id = %s"
        " ORDER BY c.community_id FOR UPDATE OF c", (user_id, user_id))
    for row in rows:
        community_id = row["community_id"]
        owner = user_id
        if row["owned"]:
            heir = await tx.fetchone(_HEIR.format(table="community_members",
                                                  key="community_id"), (community_id, user_id))
            if heir is None:
                await drop_community(tx, community_id)
                continue
            owner = heir["user_id"]
            await hand_over_community(tx, community_id, user_id, owner,
                                      reason="account_deleted")
        groups = await tx.fetchall(
            "SELECT group_id FROM spaces_groups WHERE community_id = %s AND owner_id = %s"
            " ORDER BY group_id FOR UPDATE", (community_id, user_id))
        for group in groups:
            heir = await tx.fetchone(_HEIR.format(table="group_members", key="group_id"),
                                     (group["group_id"], user_id))
            await hand_over_group(tx, community_id, group["group_id"], user_id,
                                  heir["user_id"] if heir else owner,
                                  reason="account_deleted")
        await leave_community(tx, community_id, user_id, ev.CommunityMemberLeft(
            community_id=community_id, user_id=user_id))


async def leave_community(tx: Tx, community_id: uuid.UUID, user_id: uuid.UUID,
                          removal: ev.CommunityMemberLeft | ev.CommunityMemberKicked
                          | ev.CommunityMemberBanned) -> None:
    """Remove the user from the community, its groups and channels, recording `removal`
    (left, kicked or banned) before the group departures it causes."""
    await tx.execute("DELETE FROM community_members WHERE community_id = %s AND user_id = %s",
                     (community_id, user_id))
    tx.append(community_stream(community_id), removal)
    rows = await tx.fetchall(
        "SELECT gm.group_id FROM group_members gm JOIN spaces_groups g USING (group_id)"
        " WHERE g.community_id = %s AND gm.user_id = %s ORDER BY gm.group_id",
        (community_id, user_id))
    for row in rows:
        await leave_group(tx, community_id, row["group_id"], user_id)
