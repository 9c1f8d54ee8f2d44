"""/api/groups and /api/group-invites (issue 10): groups, their channels and invites."""

from __future__ import annotations

from litestar import Controller
from litestar.params import FromPath, FromQuery, JSONBody

from chatalot.api.communities import (
    BODY_LIMIT,
    COMMAND,
    QUERY,
    READ,
    Code,
    Consistent,
    Id,
    Info,
    Rt,
    Who,
    done,
)
from chatalot.api.context import errors
from chatalot.api.guards import require_authenticated
from chatalot.api.routes import delete, get, patch, post
from chatalot.spaces import contracts as c
from chatalot.spaces import queries
from chatalot.spaces.commands import channels, groups, invites


class GroupsController(Controller):
    path = "/api/groups"
    tags = ["groups"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @get("/", summary="My groups", cache=False, responses=errors(401), dependencies=READ)
    async def mine(self, spaces: Rt, principal: Who, consistent: Consistent
                   ) -> list[c.Group]:
        return await queries.my_groups(spaces.pool, principal.user_id)

    @post("/", status_code=201, summary="Create a group in a community", responses=COMMAND)
    async def create(self, data: JSONBody[c.CreateGroup], spaces: Rt, principal: Who,
                     info: Info) -> c.Created:
        """Roles the community's policy allows (admins by default). A public group takes
        every community member in. At most 200 per community (422 limit_reached)."""
        group_id, position = await groups.create_group(spaces, principal.user_id, data, info)
        return c.Created(id=group_id, position=position)

    @get("/discover", summary="Discoverable groups I could join", cache=False,
         responses=errors(401), dependencies=READ)
    async def discover(self, spaces: Rt, principal: Who, consistent: Consistent,
                       cursor: FromQuery[str | None] = None,
                       limit: FromQuery[int | None] = None) -> c.GroupPage:
        return await queries.discover_groups(spaces.pool, principal.user_id, cursor, limit)

    @get("/{group_id:str}", summary="A group", cache=False, responses=QUERY,
         dependencies=READ)
    async def get_one(self, group_id: Id, spaces: Rt, principal: Who,
                      consistent: Consistent) -> c.Group:
        return await queries.group(spaces.pool, principal.user_id, group_id)

    @patch("/{group_id:str}", summary="Update a group", responses=COMMAND)
    async def update(self, group_id: Id, data: JSONBody[c.UpdateGroup], spaces: Rt,
                     principal: Who, info: Info) -> c.Done:
        return done(await groups.update_group(spaces, principal.user_id, group_id, data, info))

    @delete("/{group_id:str}", status_code=200, summary="Delete a group (its owner)",
            responses=COMMAND)
    async def remove(self, group_id: Id, spaces: Rt, principal: Who, info: Info) -> c.Done:
        return done(await groups.delete_group(spaces, principal.user_id, group_id, info))

    @post("/{group_id:str}/transfer-ownership", status_code=200,
          summary="Transfer the group to another member", responses=COMMAND)
    async def transfer(self, group_id: Id, data: JSONBody[c.TransferOwnership], spaces: Rt,
                       principal: Who, info: Info) -> c.Done:
        return done(await groups.transfer_group(spaces, principal.user_id, group_id,
                                                data.user_id, info))

    @post("/{group_id:str}/join", status_code=200, summary="Join a public group",
          responses=COMMAND)
    async def join(self, group_id: Id, spaces: Rt, principal: Who, info: Info) -> c.Done:
        return done(await groups.join(spaces, principal.user_id, group_id, info))

    @post("/{group_id:str}/leave", status_code=200, summary="Leave a group",
          responses=COMMAND)
    async def leave(self, group_id: Id, spaces: Rt, principal: Who, info: Info) -> c.Done:
        return done(await groups.leave(spaces, principal.user_id, group_id, info))

    @get("/{group_id:str}/members", summary="Group members (paged)", cache=False,
         responses=QUERY, dependencies=READ)
    async def members(self, group_id: Id, spaces: Rt, principal: Who,
                      consistent: Consistent, cursor: FromQuery[str | None] = None,
                      limit: FromQuery[int | None] = None) -> c.MemberPage:
        return await queries.group_members(spaces.pool, principal.user_id, group_id,
                                           cursor, limit)

    @get("/{group_id:str}/channels", summary="The group's channels", cache=False,
         responses=QUERY, dependencies=READ)
    async def channels(self, group_id: Id, spaces: Rt, principal: Who,
                       consistent: Consistent) -> list[c.Channel]:
        return await queries.group_channels(spaces.pool, principal.user_id, group_id)

    @post("/{group_id:str}/channels", status_code=201, summary="Create a channel",
          responses=COMMAND)
    async def create_channel(self, group_id: Id, data: JSONBody[c.CreateChannel], spaces: Rt,
                             principal: Who, info: Info) -> c.Created:
        """The group's owner, community admins and staff; every group member is in it. At
        most 100 per group (422 limit_reached)."""
        channel_id, position = await groups.create_channel(
            spaces, principal.user_id, group_id, data, info)
        return c.Created(id=channel_id, position=position)

    @patch("/{group_id:str}/channels/{channel_id:str}", summary="Update a channel",
           responses=COMMAND)
    async def update_channel(self, group_id: Id, channel_id: Id,
                             data: JSONBody[c.UpdateChannel], spaces: Rt, principal: Who,
                             info: Info) -> c.Done:
        return done(await channels.update_channel(spaces, principal.user_id, channel_id, data,
                                                  info, group_id=group_id))

    @delete("/{group_id:str}/channels/{channel_id:str}", status_code=200,
            summary="Delete a channel", responses=COMMAND)
    async def delete_channel(self, group_id: Id, channel_id: Id, spaces: Rt, principal: Who,
                             info: Info) -> c.Done:
        return done(await groups.delete_channel(spaces, principal.user_id, group_id,
                                                channel_id, info))

    @get("/{group_id:str}/invites", summary="The group's invites", cache=False,
         responses=QUERY, dependencies=READ)
    async def invites(self, group_id: Id, spaces: Rt, principal: Who,
                      consistent: Consistent) -> list[c.InviteReply]:
        return await queries.group_invites(spaces.pool, principal.user_id, group_id)

    @post("/{group_id:str}/invites", status_code=201, summary="Create a group invite",
          responses=COMMAND)
    async def create_invite(self, group_id: Id, data: JSONBody[c.CreateInvite], spaces: Rt,
                            principal: Who, info: Info) -> c.InviteReply:
        invite, position = await invites.create_invite(spaces, principal.user_id, data, info,
                                                       group_id=group_id)
        return invites.reply(invite, data, principal.user_id, group_id, position)


class GroupInvitesController(Controller):
    path = "/api/group-invites"
    tags = ["groups"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @get("/{code:str}", summary="What a group invite leads to", cache=False,
         responses=errors(401, 404), dependencies=READ)
    async def info(self, code: FromPath[Code], spaces: Rt, principal: Who,
                   consistent: Consistent) -> c.InviteInfo:
        return await queries.invite_info(spaces.pool, code, group=True)

    @post("/{code:str}/accept", status_code=200, summary="Join a group through an invite",
          responses=COMMAND)
    async def accept(self, code: FromPath[Code], spaces: Rt, principal: Who, info: Info
                     ) -> c.Joined:
        joined, _ = await invites.accept(spaces, principal.user_id, code, info, group=True)
        return joined

