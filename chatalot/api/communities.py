"""/api/communities, /api/community-invites (issue 10). Controllers translate and delegate:
the permissions are asked by the commands and queries (chatalot/domain/spaces/permissions.py).
Rules and limits: docs/spaces.md."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Controller
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from chatalot.api.context import errors
from chatalot.api.guards import require_authenticated
from chatalot.api.read_your_writes import read_your_writes
from chatalot.api.routes import delete, get, patch, post, put
from chatalot.auth.principal import Principal
from chatalot.request_info import RequestInfo
from chatalot.spaces import contracts as c
from chatalot.spaces import queries
from chatalot.spaces.commands import channels, communities, invites, members
from chatalot.spaces.runtime import SpacesRuntime
from event_store import Position

BODY_LIMIT = 16 * 1024
Rt = NamedDependency[SpacesRuntime]
Who = NamedDependency[Principal]
Info = NamedDependency[RequestInfo]
Consistent = NamedDependency[Position | None]
Id = FromPath[uuid.UUID]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
READ = {"consistent": read_your_writes("spaces", "users")}
COMMAND = errors(401, 403, 404, 409, 413, 422)
QUERY = errors(401, 403, 404)


def done(position: str) -> c.Done:
    return c.Done(position=position)


class CommunitiesController(Controller):
    path = "/api/communities"
    tags = ["communities"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @get("/", summary="My communities", cache=False, responses=errors(401),
         dependencies=READ)
    async def mine(self, spaces: Rt, principal: Who, consistent: Consistent
                   ) -> list[c.Community]:
        return await queries.my_communities(spaces.pool, principal.user_id)

    @get("/discover", summary="Discoverable communities", cache=False, responses=errors(401),
         dependencies=READ)
    async def discover(self, spaces: Rt, principal: Who, consistent: Consistent,
                       cursor: FromQuery[str | None] = None,
                       limit: FromQuery[int | None] = None) -> c.CommunityPage:
        items, next_cursor = await queries.discover_communities(spaces.pool, cursor, limit)
        return c.CommunityPage(items=items, next_cursor=next_cursor)

    @post("/", status_code=201, summary="Create a community (the creator owns it)",
          responses=errors(401, 409, 413, 422))
    async def create(self, data: JSONBody[c.CreateCommunity], spaces: Rt, principal: Who,
                     info: Info) -> c.Created:
        community_id, position = await communities.create_community(
            spaces, principal.user_id, data, info)
        return c.Created(id=community_id, position=position)

    @get("/{community_id:str}", summary="A community", cache=False, responses=QUERY,
         dependencies=READ)
    async def get_one(self, community_id: Id, spaces: Rt, principal: Who,
                      consistent: Consistent) -> c.Community:
        """Members (and anyone, for a discoverable community); never a banned user."""
        return await queries.community(spaces.pool, principal.user_id, community_id)

    @patch("/{community_id:str}", summary="Update a community (admins)", responses=COMMAND)
    async def update(self, community_id: Id, data: JSONBody[c.UpdateCommunity], spaces: Rt,
                     principal: Who, info: Info) -> c.Done:
        return done(await communities.update_community(
            spaces, principal.user_id, community_id, data, info))

    @delete("/{community_id:str}", status_code=200, summary="Delete a community (owner)",
            responses=COMMAND)
    async def remove(self, community_id: Id, spaces: Rt, principal: Who, info: Info
                     ) -> c.Done:
        return done(await communities.delete_community(
            spaces, principal.user_id, community_id, info))

    @post("/{community_id:str}/transfer-ownership", status_code=200,
          summary="Transfer ownership to another member", responses=COMMAND)
    async def transfer(self, community_id: Id, data: JSONBody[c.TransferOwnership],
                       spaces: Rt, principal: Who, info: Info) -> c.Done:
        return done(await communities.transfer_community(
            spaces, principal.user_id, community_id, data.user_id, info))

    @post("/{community_id:str}/join", status_code=200, summary="Join a public community",
          responses=COMMAND)
    async def join(self, community_id: Id, spaces: Rt, principal: Who, info: Info
                   ) -> c.Done:
        return done(await communities.join_community(
            spaces, principal.user_id, community_id, info))

    @post("/{community_id:str}/leave", status_code=200, summary="Leave a community",
          responses=COMMAND)
    async def leave(self, community_id: Id, spaces: Rt, principal: Who, info: Info
                    ) -> c.Done:
        return done(await communities.leave(spaces, principal.user_id, community_id, info))

    @get("/{community_id:str}/members", summary="Members with roles (paged)", cache=False,
         responses=QUERY, dependencies=READ)
    async def members(self, community_id: Id, spaces: Rt, principal: Who,
                      consistent: Consistent, cursor: FromQuery[str | None] = None,
                      limit: FromQuery[int | None] = None) -> c.MemberPage:
        return await queries.community_members(spaces.pool, principal.user_id, community_id,
                                               cursor, limit)

    @put("/{community_id:str}/members/{user_id:str}/role", summary="Change a member's role",
         responses=COMMAND)
    async def role(self, community_id: Id, user_id: Id, data: JSONBody[c.SetRole],
                   spaces: Rt, principal: Who, info: Info) -> c.Done:
        return done(await members.set_role(spaces, principal.user_id, community_id, user_id,
                                           data, info))

    @put("/{community_id:str}/members/{user_id:str}/nickname", summary="Set a nickname",
         responses=COMMAND)
    async def nickname(self, community_id: Id, user_id: Id, data: JSONBody[c.SetNickname],
                       spaces: Rt, principal: Who, info: Info) -> c.Done:
        return done(await members.set_nickname(spaces, principal.user_id, community_id,
                                               user_id, data, info))

    @delete("/{community_id:str}/members/{user_id:str}", status_code=200,
            summary="Kick a member", responses=COMMAND)
    async def kick(self, community_id: Id, user_id: Id, spaces: Rt, principal: Who,
                   info: Info, reason: FromQuery[str | None] = None) -> c.Done:
        body = c.Moderation(reason=c.check_reason(reason))
        return done(await members.kick(spaces, principal.user_id, community_id, user_id,
                                       body, info))

    @get("/{community_id:str}/bans", summary="Banned users (paged)", cache=False,
         responses=QUERY, dependencies=READ)
    async def bans(self, community_id: Id, spaces: Rt, principal: Who,
                   consistent: Consistent, cursor: FromQuery[str | None] = None,
                   limit: FromQuery[int | None] = None) -> c.BanPage:
        return await queries.community_bans(spaces.pool, principal.user_id, community_id,
                                            cursor, limit)

    @post("/{community_id:str}/bans/{user_id:str}", status_code=200, summary="Ban a user",
          responses=COMMAND)
    async def ban(self, community_id: Id, user_id: Id, spaces: Rt, principal: Who,
                  info: Info, data: JSONBody[c.Moderation | None] = None) -> c.Done:
        return done(await members.ban(spaces, principal.user_id, community_id, user_id,
                                      data or c.Moderation(), info))

    @delete("/{community_id:str}/bans/{user_id:str}", status_code=200,
            summary="Lift a ban", responses=COMMAND)
    async def unban(self, community_id: Id, user_id: Id, spaces: Rt, principal: Who,
                    info: Info) -> c.Done:
        return done(await members.unban(spaces, principal.user_id, community_id, user_id,
                                        c.Moderation(), info))

    @get("/{community_id:str}/invites", summary="Invites (moderators: all; others: own)",
         cache=False, responses=QUERY, dependencies=READ)
    async def invites(self, community_id: Id, spaces: Rt, principal: Who,
                      consistent: Consistent) -> list[c.InviteReply]:
        return await queries.community_invites(spaces.pool, principal.user_id, community_id)

    @post("/{community_id:str}/invites", status_code=201, summary="Create an invite",
          responses=COMMAND)
    async def create_invite(self, community_id: Id, data: JSONBody[c.CreateInvite],
                            spaces: Rt, principal: Who, info: Info) -> c.InviteReply:
        invite, position = await invites.create_invite(
            spaces, principal.user_id, data, info, community_id=community_id)
        return invites.reply(invite, data, principal.user_id, None, position)

    @delete("/{community_id:str}/invites/{invite_id:str}", status_code=200,
            summary="Delete an invite", responses=COMMAND)
    async def delete_invite(self, community_id: Id, invite_id: Id, spaces: Rt,
                            principal: Who, info: Info) -> c.Done:
        return done(await invites.delete_invite(spaces, principal.user_id, community_id,
                                                invite_id, info))

    @get("/{community_id:str}/groups", summary="The community's groups I may see",
         cache=False, responses=QUERY, dependencies=READ)
    async def groups(self, community_id: Id, spaces: Rt, principal: Who,
                     consistent: Consistent) -> list[c.Group]:
        return await queries.community_groups(spaces.pool, principal.user_id, community_id)

    @post("/{community_id:str}/channels/{channel_id:str}/timeout", status_code=200,
          summary="Time a member out in a channel", responses=COMMAND)
    async def timeout(self, community_id: Id, channel_id: Id, data: JSONBody[c.Timeout],
                      spaces: Rt, principal: Who, info: Info) -> c.Done:
        return done(await channels.time_out(spaces, principal.user_id, community_id,
                                            channel_id, data, info))

    @delete("/{community_id:str}/channels/{channel_id:str}/timeout/{user_id:str}",
            status_code=200, summary="End a timeout early", responses=COMMAND)
    async def untimeout(self, community_id: Id, channel_id: Id, user_id: Id, spaces: Rt,
                        principal: Who, info: Info) -> c.Done:
        return done(await channels.remove_timeout(spaces, principal.user_id, community_id,
                                                  channel_id, user_id, info))

    @post("/{community_id:str}/channels/{channel_id:str}/warn", status_code=201,
          summary="Warn a member", responses=COMMAND)
    async def warn(self, community_id: Id, channel_id: Id, data: JSONBody[c.Warn],
                   spaces: Rt, principal: Who, info: Info) -> c.Created:
        warning_id, position = await channels.warn(spaces, principal.user_id, community_id,
                                                   channel_id, data, info)
        return c.Created(id=warning_id, position=position)

    @get("/{community_id:str}/channels/{channel_id:str}/warnings/{user_id:str}",
         summary="A member's warnings in the community (count and history)", cache=False,
         responses=QUERY, dependencies=READ)
    async def warnings(self, community_id: Id, channel_id: Id, user_id: Id, spaces: Rt,
                       principal: Who, consistent: Consistent,
                       cursor: FromQuery[str | None] = None,
                       limit: FromQuery[int | None] = None) -> c.WarningPage:
        return await queries.warnings(spaces.pool, principal.user_id, community_id,
                                      channel_id, user_id, cursor, limit)


class CommunityInvitesController(Controller):
    path = "/api/community-invites"
    tags = ["communities"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @get("/{code:str}", summary="What an invite leads to", cache=False,
         responses=errors(401, 404), dependencies=READ)
    async def info(self, code: FromPath[Code], spaces: Rt, principal: Who,
                   consistent: Consistent) -> c.InviteInfo:
        return await queries.invite_info(spaces.pool, code, group=False)

    @post("/{code:str}/accept", status_code=200, summary="Join through an invite",
          responses=COMMAND)
    async def accept(self, code: FromPath[Code], spaces: Rt, principal: Who, info: Info
                     ) -> c.Joined:
        joined, _ = await invites.accept(spaces, principal.user_id, code, info, group=False)
        return joined
