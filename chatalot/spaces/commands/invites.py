"""Community and group invites: create, delete, accept. An accept holds the community row
FOR UPDATE, then the invite row: uses are counted exactly under concurrent accepts (the
table's CHECK backs the rule: uses never exceed max_uses)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from chatalot.command_tx import CommandTx as Tx
from chatalot.contracts import iso
from chatalot.domain.errors import not_found
from chatalot.domain.spaces import events as ev
from chatalot.domain.spaces import permissions as perm
from chatalot.domain.spaces import rules
from chatalot.domain.streams import community_stream, group_stream
from chatalot.ids import uuid7
from chatalot.request_info import RequestInfo
from chatalot.spaces import contracts as c
from chatalot.spaces.access import load_community_access, load_group_access
from chatalot.spaces.commands.communities import add_member
from chatalot.spaces.runtime import SpacesRuntime
from chatalot.spaces.state import join_group, run

INVITE_COLUMNS = "invite_id, community_id, group_id, max_uses, uses, expires_at"


@dataclass(frozen=True)
class NewInvite:
    invite_id: uuid.UUID
    code: str
    community_id: uuid.UUID
    expires_at: datetime | None


def reply(invite: NewInvite, body: c.CreateInvite, actor: uuid.UUID,
          group_id: uuid.UUID | None, position: str) -> c.InviteReply:
    return c.InviteReply(id=invite.invite_id, code=invite.code,
                         community_id=invite.community_id, group_id=group_id,
                         max_uses=body.max_uses, uses=0, expires_at=iso(invite.expires_at),
                         created_by=actor, position=position)


def new_code() -> str:
    return secrets.token_urlsafe(9)  # 12 characters, 72 bits


async def create_invite(rt: SpacesRuntime, actor: uuid.UUID, body: c.CreateInvite,
                        info: RequestInfo, *, community_id: uuid.UUID | None = None,
                        group_id: uuid.UUID | None = None) -> tuple[NewInvite, str]:
    """A community invite (roles the community's policy allows; moderators by default) or
    a group invite (the group's managers). Max uses 1-100000, expiry 1-8760 h."""
    code, invite_id = new_code(), uuid7()

    async def work(tx: Tx) -> NewInvite:
        expires = rules.invite_expiry(tx.now, body.expires_in_hours)
        if group_id is not None:
            group = await load_group_access(tx.conn, group_id, actor, lock=True)
            perm.require_group_manage(group)
            cid: uuid.UUID = group.community_id
        else:
            assert community_id is not None
            cid = community_id
            access = await load_community_access(tx.conn, cid, actor, lock="share")
            perm.require_create_invites(access)
        await tx.execute(
            "INSERT INTO spaces_invites (invite_id, code, community_id, group_id, created_by,"
            " max_uses, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (invite_id, code, cid, group_id, actor, body.max_uses, expires))
        if group_id is not None:
            tx.append(group_stream(group_id), ev.GroupInviteCreated(
                group_id=group_id, community_id=cid, invite_id=invite_id, code=code,
                user_id=actor, max_uses=body.max_uses, expires_at=iso(expires)))
        else:
            tx.append(community_stream(cid), ev.CommunityInviteCreated(
                community_id=cid, invite_id=invite_id, code=code, user_id=actor,
                max_uses=body.max_uses, expires_at=iso(expires)))
        return NewInvite(invite_id, code, cid, expires)

    return await run(rt, info.metadata("create_invite", actor), work)


async def delete_invite(rt: SpacesRuntime, actor: uuid.UUID, community_id: uuid.UUID,
                        invite_id: uuid.UUID, info: RequestInfo) -> str:
    """Moderators and above, or the invite's creator."""
    async def work(tx: Tx) -> None:
        access = await load_community_access(tx.conn, community_id, actor, lock="share")
        row = await tx.fetchone(
            "SELECT created_by FROM spaces_invites WHERE invite_id = %s AND community_id = %s"
            " FOR UPDATE", (invite_id, community_id))
        if row is None:
            raise not_found("no such invite")
        if row["created_by"] != actor:
            perm.require_community_moderate(access)
        await tx.execute("DELETE FROM spaces_invites WHERE invite_id = %s", (invite_id,))
        tx.append(community_stream(community_id), ev.CommunityInviteDeleted(
            community_id=community_id, invite_id=invite_id))

    _, position = await run(rt, info.metadata("delete_invite", actor), work)
    return position


def _invite(row: dict[str, object]) -> rules.Invite:
    return rules.Invite(**row)  # type: ignore[arg-type]


async def accept(rt: SpacesRuntime, actor: uuid.UUID, code: str, info: RequestInfo, *,
                 group: bool) -> tuple[c.Joined, str]:
    """Join the invite's community (and group, for a group invite); 404 for an unknown,
    expired or used-up code; 403 when banned; 409 when already in."""
    async def work(tx: Tx) -> c.Joined:
        peek = await tx.fetchone(
            f"SELECT {INVITE_COLUMNS} FROM spaces_invites WHERE code = %s", (code,))
        if peek is None or (peek["group_id"] is not None) != group:
            raise not_found("no such invite")
        cid = peek["community_id"]
        access = await load_community_access(tx.conn, cid, actor, lock="update")
        row = await tx.fetchone(
            f"SELECT {INVITE_COLUMNS} FROM spaces_invites WHERE code = %s FOR UPDATE", (code,))
        if row is None:
            raise not_found("no such invite")
        invite = _invite(row)
        rules.check_invite_usable(invite, tx.now)
        if invite.group_id is None:
            rules.check_invite_accept(access.banned, access.member)
        else:
            in_group = await load_group_access(tx.conn, invite.group_id, actor, lock=True)
            rules.check_invite_accept(access.banned, in_group.member)
        uses = invite.uses + 1
        await tx.execute("UPDATE spaces_invites SET uses = %s WHERE invite_id = %s",
                         (uses, invite.invite_id))
        if invite.group_id is None:
            tx.append(community_stream(cid), ev.CommunityInviteUsed(
                community_id=cid, invite_id=invite.invite_id, user_id=actor, uses=uses))
            await add_member(tx, cid, actor, invite.invite_id)
        else:
            tx.append(group_stream(invite.group_id), ev.GroupInviteUsed(
                group_id=invite.group_id, community_id=cid, invite_id=invite.invite_id,
                user_id=actor, uses=uses))
            if not access.member:
                await add_member(tx, cid, actor)
            await join_group(tx, cid, invite.group_id, actor, invite_id=invite.invite_id)
        return c.Joined(community_id=cid, group_id=invite.group_id, position="")

    joined, position = await run(rt, info.metadata("accept_invite", actor), work)
    joined.position = position
    return joined, position
