"""Community moderation: kick, ban, unban, role changes, nicknames. Each holds the
community row FOR UPDATE; an actor moderates only strictly lower roles; each event carries
the acting moderator and the reason (the audit log replays them)."""

from __future__ import annotations

import uuid

from chatalot.command_tx import CommandTx as Tx
from chatalot.domain.errors import bad_request, conflict, forbidden
from chatalot.domain.spaces import events as ev
from chatalot.domain.spaces import permissions as perm
from chatalot.domain.spaces import rules
from chatalot.domain.spaces.access import CommunityAccess
from chatalot.domain.spaces.roles import Role
from chatalot.domain.streams import community_stream
from chatalot.request_info import RequestInfo
from chatalot.spaces import contracts as c
from chatalot.spaces.access import load_community_access
from chatalot.spaces.runtime import SpacesRuntime
from chatalot.spaces.state import leave_community, run


async def _judge(tx: Tx, community_id: uuid.UUID, actor: uuid.UUID, target: uuid.UUID
                 ) -> CommunityAccess:
    """Lock the community; the actor must moderate the target (strictly lower, never the
    owner). Returns the target's access."""
    access = await load_community_access(tx.conn, community_id, actor, lock="update")
    target_access = await load_community_access(tx.conn, community_id, target)
    perm.require_community_moderate(access)
    perm.require_moderates(access.role, target_access.role)
    rules.check_not_owner(access.owner_id == target)
    return target_access


async def kick(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
               target: uuid.UUID, body: c.Moderation, info: RequestInfo) -> str:
    """Remove a member from the community, its groups and channels; they may rejoin."""
    async def work(tx: Tx) -> None:
        target_access = await _judge(tx, community_id, actor, target)
        if not target_access.member:
            raise bad_request("the user is not a member of this community")
        await leave_community(tx, community_id, target, ev.CommunityMemberKicked(
            community_id=community_id, user_id=target, moderator_id=actor,
            reason=body.reason))

    _, position = await run(rt, info.metadata("kick_from_community", actor), work)
    return position


async def ban(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
              target: uuid.UUID, body: c.Moderation, info: RequestInfo) -> str:
    """Ban (member or not): they lose every group and channel of the community at once and
    cannot rejoin, even with an invite, until unbanned."""
    async def work(tx: Tx) -> None:
        target_access = await _judge(tx, community_id, actor, target)
        if target_access.banned:
            raise conflict("the user is already banned")
        exists = await tx.fetchone("SELECT 1 AS x FROM account_users WHERE user_id = %s",
                                   (target,))
        if exists is None:
            raise bad_request("no such user")
        await tx.execute("INSERT INTO community_bans (community_id, user_id) VALUES (%s, %s)",
                         (community_id, target))
        await leave_community(tx, community_id, target, ev.CommunityMemberBanned(
            community_id=community_id, user_id=target, moderator_id=actor,
            reason=body.reason))

    _, position = await run(rt, info.metadata("ban_from_community", actor), work)
    return position


async def unban(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
                target: uuid.UUID, body: c.Moderation, info: RequestInfo) -> str:
    async def work(tx: Tx) -> None:
        access = await load_community_access(tx.conn, community_id, actor, lock="update")
        perm.require_community_moderate(access)
        gone = await tx.execute(
            "DELETE FROM community_bans WHERE community_id = %s AND user_id = %s",
            (community_id, target))
        if not gone:
            raise conflict("the user is not banned")
        tx.append(community_stream(community_id), ev.CommunityMemberUnbanned(
            community_id=community_id, user_id=target, moderator_id=actor,
            reason=body.reason))

    _, position = await run(rt, info.metadata("unban_from_community", actor), work)
    return position


async def set_role(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
                   target: uuid.UUID, body: c.SetRole, info: RequestInfo) -> str:
    """Admins and above give a role below their own to a member below their own."""
    new_role = Role.parse(body.role)

    async def work(tx: Tx) -> None:
        access = await load_community_access(tx.conn, community_id, actor, lock="update")
        target_access = await load_community_access(tx.conn, community_id, target)
        perm.require_community_member(access)
        perm.require_assigns(access.role, target_access.role, new_role)
        rules.check_not_owner(access.owner_id == target)
        changed = await tx.execute(
            "UPDATE community_members SET role = %s WHERE community_id = %s AND user_id = %s",
            (new_role.label, community_id, target))
        if not changed:
            raise bad_request("the user is not a member of this community")
        tx.append(community_stream(community_id), ev.CommunityRoleChanged(
            community_id=community_id, user_id=target, role=new_role.label,
            moderator_id=actor, reason=body.reason))

    _, position = await run(rt, info.metadata("set_community_role", actor), work)
    return position


async def set_nickname(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
                       target: uuid.UUID, body: c.SetNickname, info: RequestInfo) -> str:
    """One's own nickname; a moderator may change a lower member's."""
    nickname = (body.nickname or "").strip() or None

    async def work(tx: Tx) -> None:
        access = await load_community_access(tx.conn, community_id, actor, lock="update")
        perm.require_community_member(access)
        if target != actor:
            target_access = await load_community_access(tx.conn, community_id, target)
            perm.require_moderates(access.role, target_access.role)
            if not target_access.member:
                raise bad_request("the user is not a member of this community")
        elif not access.member:
            raise forbidden("you are not a member of this community")
        tx.append(community_stream(community_id), ev.CommunityNicknameChanged(
            community_id=community_id, user_id=target, nickname=nickname))

    _, position = await run(rt, info.metadata("set_nickname", actor), work)
    return position
