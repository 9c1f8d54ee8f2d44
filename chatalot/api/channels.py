"""/api/channels (membership, roles, moderation) and /api/dms (issue 10)."""

from __future__ import annotations

from litestar import Controller
from litestar.params import FromQuery, JSONBody

from chatalot.api.communities import (
    BODY_LIMIT,
    COMMAND,
    QUERY,
    READ,
    Consistent,
    Id,
    Info,
    Rt,
    Who,
    done,
)
from chatalot.api.context import errors
from chatalot.api.guards import require_authenticated
from chatalot.api.routes import get, patch, post
from chatalot.spaces import contracts as c
from chatalot.spaces import queries
from chatalot.spaces.commands import channels, dms


class ChannelsController(Controller):
    path = "/api/channels"
    tags = ["channels"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @get("/", summary="My channels (DMs excluded)", cache=False, responses=errors(401),
         dependencies=READ)
    async def mine(self, spaces: Rt, principal: Who, consistent: Consistent
                   ) -> list[c.Channel]:
        return await queries.my_channels(spaces.pool, principal.user_id)

    @get("/{channel_id:str}", summary="A channel", cache=False, responses=QUERY,
         dependencies=READ)
    async def get_one(self, channel_id: Id, spaces: Rt, principal: Who,
                      consistent: Consistent) -> c.Channel:
        return await queries.channel(spaces.pool, principal.user_id, channel_id)

    @patch("/{channel_id:str}", summary="Update a channel (admins)", responses=COMMAND)
    async def update(self, channel_id: Id, data: JSONBody[c.UpdateChannel], spaces: Rt,
                     principal: Who, info: Info) -> c.Done:
        """Name, topic, read-only, archived, slow mode (0 or 5-600 s), E2E required."""
        return done(await channels.update_channel(spaces, principal.user_id, channel_id,
                                                  data, info))

    @post("/{channel_id:str}/join", status_code=200, summary="Join a channel of my group",
          responses=COMMAND)
    async def join(self, channel_id: Id, spaces: Rt, principal: Who, info: Info) -> c.Done:
        return done(await channels.join(spaces, principal.user_id, channel_id, info))

    @post("/{channel_id:str}/leave", status_code=200, summary="Leave a channel",
          responses=COMMAND)
    async def leave(self, channel_id: Id, spaces: Rt, principal: Who, info: Info) -> c.Done:
        """The remaining members are told to rotate their sender keys."""
        return done(await channels.leave(spaces, principal.user_id, channel_id, info))

    @post("/{channel_id:str}/transfer-ownership", status_code=200,
          summary="Transfer the channel's ownership", responses=COMMAND)
    async def transfer(self, channel_id: Id, data: JSONBody[c.TransferOwnership], spaces: Rt,
                       principal: Who, info: Info) -> c.Done:
        """The owner hands the channel to another member (and becomes its admin); an
        ownerless channel is given an owner by its admins."""
        return done(await channels.transfer(spaces, principal.user_id, channel_id,
                                            data.user_id, info))

    @get("/{channel_id:str}/members", summary="Channel members (paged)", cache=False,
         responses=QUERY, dependencies=READ)
    async def members(self, channel_id: Id, spaces: Rt, principal: Who,
                      consistent: Consistent, cursor: FromQuery[str | None] = None,
                      limit: FromQuery[int | None] = None) -> c.MemberPage:
        return await queries.channel_members(spaces.pool, principal.user_id, channel_id,
                                             cursor, limit)

    @patch("/{channel_id:str}/members/{user_id:str}/role", summary="Change a channel role",
           responses=COMMAND)
    async def role(self, channel_id: Id, user_id: Id, data: JSONBody[c.SetRole], spaces: Rt,
                   principal: Who, info: Info) -> c.Done:
        return done(await channels.set_role(spaces, principal.user_id, channel_id, user_id,
                                            data, info))

    @post("/{channel_id:str}/members/{user_id:str}/kick", status_code=200,
          summary="Kick a member from the channel", responses=COMMAND)
    async def kick(self, channel_id: Id, user_id: Id, spaces: Rt, principal: Who,
                   info: Info, data: JSONBody[c.Moderation | None] = None) -> c.Done:
        return done(await channels.kick(spaces, principal.user_id, channel_id, user_id,
                                        data or c.Moderation(), info))

    @post("/{channel_id:str}/members/{user_id:str}/ban", status_code=200,
          summary="Ban a user from the channel", responses=COMMAND)
    async def ban(self, channel_id: Id, user_id: Id, spaces: Rt, principal: Who, info: Info,
                  data: JSONBody[c.Moderation | None] = None) -> c.Done:
        return done(await channels.ban(spaces, principal.user_id, channel_id, user_id,
                                       data or c.Moderation(), info))

    @post("/{channel_id:str}/members/{user_id:str}/unban", status_code=200,
          summary="Lift a channel ban", responses=COMMAND)
    async def unban(self, channel_id: Id, user_id: Id, spaces: Rt, principal: Who,
                    info: Info, data: JSONBody[c.Moderation | None] = None) -> c.Done:
        return done(await channels.unban(spaces, principal.user_id, channel_id, user_id,
                                         data or c.Moderation(), info))


class DmsController(Controller):
    path = "/api/dms"
    tags = ["dms"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @get("/", summary="My DMs with the other user's profile (paged)", cache=False,
         responses=errors(401), dependencies=READ)
    async def mine(self, spaces: Rt, principal: Who, consistent: Consistent,
                   cursor: FromQuery[str | None] = None,
                   limit: FromQuery[int | None] = None) -> c.DmPage:
        return await queries.dms(spaces.pool, principal.user_id, cursor, limit)

    @post("/", status_code=200, summary="Create or get the DM with another user",
          responses=COMMAND)
    async def create(self, data: JSONBody[c.CreateDm], spaces: Rt, principal: Who,
                     info: Info) -> c.DmReply:
        """Needs a shared community (instance staff excepted); 403 when either side
        blocked the other. Exactly one DM per pair: `created` says whether this call made
        it (`position` is null when it already existed)."""
        result, position = await dms.create_or_get(spaces, principal.user_id,
                                                   data.target_user_id, info)
        return c.DmReply(channel_id=result.channel_id, created=result.created,
                         position=position)
